#include "quant/hessian.h"

#include <cblas.h>

#include <algorithm>

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

Eigen::MatrixXd AsymmetricTarget(const Eigen::MatrixXd& W, const Eigen::MatrixXd& C, const Eigen::MatrixXd& H,
                                 double damping) {
  QUIP_CHECK_INPUT(C.rows() == W.cols() && C.cols() == W.cols() && H.rows() == W.cols() && H.cols() == W.cols(),
                   "AsymmetricTarget", "weight {}x{} needs {}x{} moments, got C {}x{} and H {}x{}", W.rows(),
                   W.cols(), W.cols(), W.cols(), C.rows(), C.cols(), H.rows(), H.cols());
  Eigen::MatrixXd hd = H;
  hd.diagonal().array() += std::max(damping * H.diagonal().mean(), 1e-12);
  // W' = W C H⁻¹  ⇔  H W'ᵀ = Cᵀ Wᵀ (H symmetric): a Cholesky of the damped H
  // (quant/cholesky.h), then per block of rows Cᵀ·Wᵀ (DGEMM) and two triangular solves (DTRSM), all
  // OpenBLAS (~1.5x Eigen's blocked LLT and products here, issue 19). The damped H is
  // positive definite in practice; Eigen's pivoted LDLT is kept for a Cholesky that fails.
  // Rows of W' are independent: blocks of them on the idle threads (quant/row_blocks.h).
  UseSingleThreadedBlas();
  const int n = int(W.cols());
  Eigen::MatrixXd factor;
  if (!CholeskyLower(hd, &factor)) return hd.ldlt().solve(C.transpose() * W.transpose()).transpose();
  Eigen::MatrixXd target(W.rows(), W.cols());
  ForRowBlocks(W.rows(), "asymmetric_target", [&](int64_t r0, int64_t r1) {
    const int k = int(r1 - r0);
    // rhs (n×k) = Cᵀ·W[r0:r1]ᵀ, then L·Lᵀ·X = rhs.
    const Eigen::MatrixXd w_rows = W.middleRows(r0, k);
    Eigen::MatrixXd rhs(n, k);
    cblas_dgemm(CblasColMajor, CblasTrans, CblasTrans, n, k, n, 1.0, C.data(), n, w_rows.data(), k, 0.0, rhs.data(),
                n);
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasNoTrans, CblasNonUnit, n, k, 1.0, factor.data(), n,
                rhs.data(), n);
    cblas_dtrsm(CblasColMajor, CblasLeft, CblasLower, CblasTrans, CblasNonUnit, n, k, 1.0, factor.data(), n,
                rhs.data(), n);
    target.middleRows(r0, k) = rhs.transpose();
  });
  return target;
}

}  // namespace quip
