#include "format/kronecker.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "format/seeded_random.h"

namespace quip {
namespace {

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Tokens per batch: bounds the three scratch buffers to 3·256·n elements.
constexpr int64_t kBatch = 256;

// x_t ← (A⊗B)·P x_t  or  x_t ← Pᵀ(Aᵀ⊗Bᵀ) x_t for each row t, as two large GEMMs per
// batch rather than two tiny ones per token: the batch's p×q blocks are stacked
// vertically for the product with B (rows t·p + i), then re-laid side by side
// (columns t·q + j) for the product with A.
template <typename T, typename Mat>
void ApplyRows(const Mat& a, const Mat& b, const std::vector<int>& perm, T* x, int64_t ntok, bool transposed) {
  const int p = static_cast<int>(a.rows()), q = static_cast<int>(b.rows());
  const int n = p * q;
  RowMat<T> stacked, mid, side, out;
  for (int64_t t0 = 0; t0 < ntok; t0 += kBatch) {
    const int64_t k = std::min(kBatch, ntok - t0);
    T* rows = x + t0 * n;
    stacked.resize(k * p, q);
    T* s = stacked.data();
    for (int64_t t = 0; t < k; ++t) {
      const T* row = rows + t * n;
      T* dst = s + t * n;  // row-major (k·p)×q: token t's block is contiguous
      if (!transposed) {
        for (int i = 0; i < n; ++i) dst[i] = row[perm[i]];
      } else {
        for (int i = 0; i < n; ++i) dst[i] = row[i];
      }
    }
    if (!transposed) {
      mid.noalias() = stacked * b.transpose();
    } else {
      mid.noalias() = stacked * b;
    }
    side.resize(p, k * q);
    for (int64_t t = 0; t < k; ++t)
      for (int i = 0; i < p; ++i)
        for (int j = 0; j < q; ++j) side(i, t * q + j) = mid(t * p + i, j);
    if (!transposed) {
      out.noalias() = a * side;
    } else {
      out.noalias() = a.transpose() * side;
    }
    for (int64_t t = 0; t < k; ++t) {
      T* row = rows + t * n;
      for (int i = 0; i < p; ++i) {
        const T* src = &out(i, t * q);
        if (!transposed) {
          for (int j = 0; j < q; ++j) row[i * q + j] = src[j];
        } else {
          for (int j = 0; j < q; ++j) row[perm[i * q + j]] = src[j];
        }
      }
    }
  }
}

// R = M·(A⊗B)ᵀ: every row x of the column-major m×n matrix M (n = p·q) becomes
// (A⊗B)x, for all rows at once in BLAS-3 (issue 19; the quantizer's matrices are
// thousands of vectors). Column block i of M (q columns, contiguous) is segment i of
// every row, so T = M·(I⊗Bᵀ) is p GEMMs with Bᵀ; then T's memory viewed as an (m·q)×p
// matrix has column i = block i, and one GEMM with Aᵀ mixes the blocks.
Eigen::MatrixXd KronRows(const Eigen::MatrixXd& m, const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  const Eigen::Index rows = m.rows(), p = a.rows(), q = b.rows();
  QUIP_ASSERT(m.cols() == p * q);
  Eigen::MatrixXd t(rows, p * q);
  for (Eigen::Index i = 0; i < p; ++i) t.middleCols(i * q, q).noalias() = m.middleCols(i * q, q) * b.transpose();
  Eigen::MatrixXd r(rows, p * q);
  Eigen::Map<Eigen::MatrixXd>(r.data(), rows * q, p).noalias() =
      Eigen::Map<const Eigen::MatrixXd>(t.data(), rows * q, p) * a.transpose();
  return r;
}

}  // namespace

int KroneckerSplit(int n) {
  QUIP_ASSERT(n > 0);
  int best = 1;
  for (int d = 1; int64_t{d} * d <= n; ++d)
    if (n % d == 0) best = d;
  return best;
}

Eigen::MatrixXd RandomOrthogonal(int k, SeededRandom& rng) {
  // Column-major k×k Gaussian, filled column by column in a fixed order.
  std::vector<double> g(size_t(k) * k);
  for (double& v : g) v = rng.Gaussian();
  // Modified Gram–Schmidt, each column orthogonalised twice ("twice is enough"):
  // orthogonality to ~1e-15 even for ill-conditioned draws. R_jj = norm > 0, so the
  // result is the sign-fixed QR factor, i.e. exactly Haar distributed.
  for (int j = 0; j < k; ++j) {
    double* v = &g[size_t(j) * k];
    for (int pass = 0; pass < 2; ++pass) {
      for (int i = 0; i < j; ++i) {
        const double* u = &g[size_t(i) * k];
        double dot = 0.0;
        for (int r = 0; r < k; ++r) dot += u[r] * v[r];
        for (int r = 0; r < k; ++r) v[r] -= dot * u[r];
      }
    }
    double norm2 = 0.0;
    for (int r = 0; r < k; ++r) norm2 += v[r] * v[r];
    QUIP_ASSERT(norm2 > 0.0);
    const double inv = 1.0 / std::sqrt(norm2);
    for (int r = 0; r < k; ++r) v[r] *= inv;
  }
  Eigen::MatrixXd q(k, k);
  for (int j = 0; j < k; ++j)
    for (int r = 0; r < k; ++r) q(r, j) = g[size_t(j) * k + r];
  return q;
}

KroneckerTransform::KroneckerTransform(int n, uint64_t seed) : n_(n), seed_(seed) {
  QUIP_CHECK_INPUT(n > 0, "KroneckerTransform", "dimension must be positive, got {}", n);
  p_ = KroneckerSplit(n);
  q_ = n / p_;
  // One generator, consumed in a fixed order: A, then B, then the permutation.
  SeededRandom rng(MixSeed(seed));
  a_ = RandomOrthogonal(p_, rng);
  b_ = RandomOrthogonal(q_, rng);
  perm_.resize(n);
  for (int i = 0; i < n; ++i) perm_[i] = i;
  for (int i = n - 1; i > 0; --i) std::swap(perm_[i], perm_[rng.Below(uint64_t(i) + 1)]);
  af_ = a_.cast<float>();
  bf_ = b_.cast<float>();
}

void KroneckerTransform::Apply(float* x, int64_t ntok) const { ApplyRows(af_, bf_, perm_, x, ntok, false); }
void KroneckerTransform::ApplyTransposed(float* x, int64_t ntok) const { ApplyRows(af_, bf_, perm_, x, ntok, true); }
void KroneckerTransform::Apply(double* x, int64_t ntok) const { ApplyRows(a_, b_, perm_, x, ntok, false); }
void KroneckerTransform::ApplyTransposed(double* x, int64_t ntok) const { ApplyRows(a_, b_, perm_, x, ntok, true); }

// Rows x ↦ Q x = (A⊗B)·(P x): gather the columns, then transform.
Eigen::MatrixXd KroneckerTransform::RightMultiplyTransposed(const Eigen::MatrixXd& m) const {
  QUIP_ASSERT(m.cols() == n_);
  return KronRows(m(Eigen::all, perm_), a_, b_);
}

// Rows x ↦ Qᵀ x = Pᵀ·(Aᵀ⊗Bᵀ) x: transform, then scatter the columns ((Pᵀy)[perm_i] = y_i).
Eigen::MatrixXd KroneckerTransform::RightMultiply(const Eigen::MatrixXd& m) const {
  QUIP_ASSERT(m.cols() == n_);
  const Eigen::MatrixXd y = KronRows(m, a_.transpose(), b_.transpose());
  Eigen::MatrixXd r(m.rows(), n_);
  r(Eigen::all, perm_) = y;
  return r;
}

// A column-major n×k matrix is k contiguous vectors of length n: transform in place
// (ApplyRows batches them into GEMMs; measured as fast as a gather-free formulation).
Eigen::MatrixXd KroneckerTransform::LeftMultiply(const Eigen::MatrixXd& m) const {
  QUIP_ASSERT(m.rows() == n_);
  Eigen::MatrixXd r = m;
  Apply(r.data(), r.cols());
  return r;
}

Eigen::MatrixXd KroneckerTransform::LeftMultiplyTransposed(const Eigen::MatrixXd& m) const {
  QUIP_ASSERT(m.rows() == n_);
  Eigen::MatrixXd r = m;
  ApplyTransposed(r.data(), r.cols());
  return r;
}

Eigen::MatrixXd KroneckerTransform::Dense() const {
  // K(i1·q + j1, i2·q + j2) = A(i1, i2)·B(j1, j2); Q = K·P puts K's column i at perm_i.
  Eigen::MatrixXd dense(n_, n_);
  for (int i1 = 0; i1 < p_; ++i1)
    for (int i2 = 0; i2 < p_; ++i2)
      for (int j1 = 0; j1 < q_; ++j1)
        for (int j2 = 0; j2 < q_; ++j2) dense(i1 * q_ + j1, perm_[i2 * q_ + j2]) = a_(i1, i2) * b_(j1, j2);
  return dense;
}

}  // namespace quip
