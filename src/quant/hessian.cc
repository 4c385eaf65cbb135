#include "quant/hessian.h"

#include <cblas.h>

#include <algorithm>
#include <functional>

#include "core/error.h"
#include "core/parallel.h"
#include "core/phase_profile.h"
#include "quant/cholesky.h"
#include "quant/row_blocks.h"

namespace quip {
namespace {

// Tokens converted to double per rank-k update: bounds the scratch to 256·n doubles
// while keeping the update a cache-friendly matrix product.
constexpr int kChunk = 256;
using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowMatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace

HessianAccumulator::HessianAccumulator(int n) : n_(n) {
  QUIP_CHECK_INPUT(n > 0, "HessianAccumulator", "dimension must be positive, got {}", n);
  sum_ = Eigen::MatrixXd::Zero(n, n);
}

void HessianAccumulator::Add(const float* x, int ntok) {
  QUIP_CHECK_INPUT(ntok >= 0, "HessianAccumulator", "negative token count {}", ntok);
  ScopedPhase phase("hessian_accumulation", double(ntok) * n_ * (n_ + 1));  // SYRK: one triangle
  UseSingleThreadedBlas();
  for (int t0 = 0; t0 < ntok; t0 += kChunk) {
    const int k = std::min(kChunk, ntok - t0);
    Eigen::Map<const RowMatF> block(x + int64_t(t0) * n_, k, n_);
    QUIP_CHECK_INPUT(block.allFinite(), "Hessian inputs", "activations contain NaN or Inf (tokens {}..{})",
                     count_ + t0, count_ + t0 + k - 1);
    // Row-major k×n doubles are the column-major n×k matrix of the k token vectors, so
    // sum += Xᵀ·X is one rank-k update (OpenBLAS's DSYRK: ~1.4x Eigen's, issue 19).
    const RowMatD xd = block.cast<double>();
    cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, n_, k, 1.0, xd.data(), n_, 1.0, sum_.data(), n_);
  }
  count_ += ntok;
}

void HessianAccumulator::Merge(const HessianAccumulator& other) {
  QUIP_ASSERT(other.n_ == n_);
  sum_ += other.sum_;
  count_ += other.count_;
}

Eigen::MatrixXd HessianAccumulator::Mean() const {
  QUIP_CHECK_INPUT(count_ > 0, "HessianAccumulator", "no inputs were added");
  Eigen::MatrixXd h = sum_.selfadjointView<Eigen::Lower>();
  return h / double(count_);
}

CrossMomentAccumulator::CrossMomentAccumulator(int n) : n_(n) {
  QUIP_CHECK_INPUT(n > 0, "CrossMomentAccumulator", "dimension must be positive, got {}", n);
  sum_ = Eigen::MatrixXd::Zero(n, n);
}

void CrossMomentAccumulator::Add(const float* x, const float* x_hat, int ntok) {
  QUIP_CHECK_INPUT(ntok >= 0, "CrossMomentAccumulator", "negative token count {}", ntok);
  ScopedPhase phase("cross_moment_accumulation", 2.0 * ntok * n_ * n_);
  UseSingleThreadedBlas();
  for (int t0 = 0; t0 < ntok; t0 += kChunk) {
    const int k = std::min(kChunk, ntok - t0);
    const RowMatD a = Eigen::Map<const RowMatF>(x + int64_t(t0) * n_, k, n_).cast<double>();
    const RowMatD b = Eigen::Map<const RowMatF>(x_hat + int64_t(t0) * n_, k, n_).cast<double>();
    QUIP_CHECK_INPUT(a.allFinite() && b.allFinite(), "Hessian inputs",
                     "activations contain NaN or Inf (tokens {}..{})", count_ + t0, count_ + t0 + k - 1);
    // sum += aᵀ·b, with a and b read as the column-major n×k matrices aᵀ and bᵀ (OpenBLAS DGEMM).
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasTrans, n_, n_, k, 1.0, a.data(), n_, b.data(), n_, 1.0, sum_.data(),
                n_);
  }
  count_ += ntok;
}

void CrossMomentAccumulator::Merge(const CrossMomentAccumulator& other) {
  QUIP_ASSERT(other.n_ == n_);
  sum_ += other.sum_;
  count_ += other.count_;
}

Eigen::MatrixXd CrossMomentAccumulator::Mean() const {
  QUIP_CHECK_INPUT(count_ > 0, "CrossMomentAccumulator", "no inputs were added");
  return sum_ / double(count_);
}

namespace {

// X = M·H_d⁻¹ for an m×n matrix M (H_d = H + max(damping·mean(diag H), 1e-12)·I), given
// rhs(r0, k) = (rows [r0, r0 + k) of M)ᵀ: H_d Xᵀ = Mᵀ (H symmetric) by a Cholesky of H_d
// (quant/cholesky.h) and, per block of rows, two triangular solves (DTRSM), all OpenBLAS
// (~1.5x Eigen's blocked LLT and products here, issue 19). The damped H is positive
// definite in practice; Eigen's pivoted LDLT is kept for a Cholesky that fails. Rows of X
// are independent: blocks of them on the idle threads (quant/row_blocks.h).
Eigen::MatrixXd SolveDampedFromRight(const Eigen::MatrixXd& H, double damping, int64_t m,
                                     const std::function<Eigen::MatrixXd(int64_t r0, int k)>& rhs) {
  Eigen::MatrixXd hd = H;
  hd.diagonal().array() += std::max(damping * H.diagonal().mean(), 1e-12);
  UseSingleThreadedBlas();
  const int n = int(H.cols());
  Eigen::MatrixXd factor;
  if (!CholeskyLower(hd, &factor)) return hd.ldlt().solve(rhs(0, int(m))).transpose();
  Eigen::MatrixXd x(m, n);
  ForRowBlocks(m, "asymmetric_target", [&](int64_t r0, int64_t r1) {
    const int k = int(r1 - r0);
    Eigen::MatrixXd b = rhs(r0, k);  // n×k; L·Lᵀ·X = b
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, n, k, 1.0, factor.data(), n,
                b.data(), n);
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, n, k, 1.0, factor.data(), n,
                b.data(), n);
    x.middleRows(r0, k) = b.transpose();
  });
  return x;
}

}  // namespace

Eigen::MatrixXd AsymmetricTarget(const Eigen::MatrixXd& W, const Eigen::MatrixXd& C, const Eigen::MatrixXd& H,
                                 double damping) {
  QUIP_CHECK_INPUT(C.rows() == W.cols() && C.cols() == W.cols() && H.rows() == W.cols() && H.cols() == W.cols(),
                   "AsymmetricTarget", "weight {}x{} needs {}x{} moments, got C {}x{} and H {}x{}", W.rows(),
                   W.cols(), W.cols(), W.cols(), C.rows(), C.cols(), H.rows(), H.cols());
  // W' = W C H⁻¹, M = W·C: each block's Mᵀ = Cᵀ·W[r0:r1]ᵀ is one DGEMM.
  const int n = int(W.cols());
  return SolveDampedFromRight(H, damping, W.rows(), [&](int64_t r0, int k) {
    const Eigen::MatrixXd w_rows = W.middleRows(r0, k);
    Eigen::MatrixXd rhs(n, k);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, n, k, n, 1.0, C.data(), n, w_rows.data(), k, 0.0, rhs.data(),
                n);
    return rhs;
  });
}

Eigen::MatrixXd AsymmetricMap(const Eigen::MatrixXd& C, const Eigen::MatrixXd& H, double damping) {
  QUIP_CHECK_INPUT(C.rows() == C.cols() && H.rows() == C.rows() && H.cols() == C.rows(), "AsymmetricMap",
                   "needs square moments of one size, got C {}x{} and H {}x{}", C.rows(), C.cols(), H.rows(), H.cols());
  return SolveDampedFromRight(H, damping, C.rows(),
                              [&](int64_t r0, int k) { return Eigen::MatrixXd(C.middleRows(r0, k).transpose()); });
}

Eigen::MatrixXd ApplyAsymmetricMap(const Eigen::MatrixXd& W, const Eigen::MatrixXd& map) {
  QUIP_CHECK_INPUT(map.rows() == W.cols() && map.cols() == W.cols(), "ApplyAsymmetricMap",
                   "weight {}x{} needs a {}x{} map, got {}x{}", W.rows(), W.cols(), W.cols(), W.cols(), map.rows(),
                   map.cols());
  UseSingleThreadedBlas();
  const int n = int(W.cols());
  const int64_t m = W.rows();
  Eigen::MatrixXd target(m, n);
  // Row blocks of W·A (DGEMM), on the idle threads; each row's sums are the unsplit call's.
  ForRowBlocks(m, "asymmetric_target", [&](int64_t r0, int64_t r1) {
    const int k = int(r1 - r0);
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, k, n, n, 1.0, W.data() + r0, int(m), map.data(), n, 0.0,
                target.data() + r0, int(m));
  });
  return target;
}

bool ShareAsymmetricMap(int64_t rows, int count, int n) {
  return count * double(n) / 3 + 4.0 * double(rows) > 7.0 * n / 3 + 2.0 * double(rows);
}

}  // namespace quip
