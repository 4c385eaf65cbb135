#include "kernels/rotation.h"

#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"
#include "kernels/fwht_simd.h"
#include "kernels/small_matmul_simd.h"

namespace quip::kernels {
namespace {
std::vector<float> RowMajor(const Eigen::MatrixXd& m, bool transpose) {
  std::vector<float> out(size_t(m.rows()) * m.cols());
  for (int i = 0; i < m.rows(); ++i)
    for (int j = 0; j < m.cols(); ++j) out[size_t(i) * m.cols() + j] = float(transpose ? m(j, i) : m(i, j));
  return out;
}

// Tokens per pool task: rotations are ~n(p+q) multiply-adds per token, so batch
// tokens until a task is worth handing out.
constexpr int64_t kTaskMultiplyAdds = 1 << 16;

// A single token this large (n = 5632: ~860k multiply-adds, ~40 us on one core) splits
// each of its two factor products by rows over the pool instead: decoding has only one
// token, and its rotations otherwise run on one core while the others wait.
constexpr int64_t kSplitMultiplyAdds = 1 << 18;

// C[m×n] = L[m×k]·R[k×n] with the rows of L and C split over the pool (a barrier at the end).
void SplitMatMul(const float* l, int m, int k, const float* r, int n, float* c) {
  const int tasks = std::min(m, 2 * ThreadPool::Global().threads());
  const int per = (m + tasks - 1) / tasks;
  ThreadPool::Global().Run((m + per - 1) / per, [&](int64_t task) {
    const int r0 = int(task) * per, rows = std::min(per, m - r0);
    simd::SmallMatMul(l + int64_t(r0) * k, rows, k, r, n, c + int64_t(r0) * n);
  });
}
}  // namespace

FastKronecker::FastKronecker(const KroneckerTransform& t)
    : n_(t.n()),
      p_(t.p()),
      q_(t.q()),
      a_(RowMajor(t.a(), false)),
      at_(RowMajor(t.a(), true)),
      b_(RowMajor(t.b(), false)),
      bt_(RowMajor(t.b(), true)),
      perm_(t.permutation()) {}

void FastKronecker::Apply(float* x, int ntok) const { Run(x, ntok, false); }
void FastKronecker::ApplyTransposed(float* x, int ntok) const { Run(x, ntok, true); }

void FastKronecker::Run(float* x, int ntok, bool transposed) const {
  const int64_t per_token = int64_t(n_) * (p_ + q_);
  if (ntok == 1 && per_token >= kSplitMultiplyAdds && ThreadPool::Global().threads() > 1) {
    thread_local std::vector<float> xs, ys;
    xs.resize(n_);
    ys.resize(n_);
    if (!transposed) {
      for (int i = 0; i < n_; ++i) xs[i] = x[perm_[i]];
      SplitMatMul(xs.data(), p_, q_, bt_.data(), q_, ys.data());
      SplitMatMul(a_.data(), p_, p_, ys.data(), q_, x);
    } else {
      SplitMatMul(x, p_, q_, b_.data(), q_, ys.data());
      SplitMatMul(at_.data(), p_, p_, ys.data(), q_, xs.data());
      for (int i = 0; i < n_; ++i) x[perm_[i]] = xs[i];
    }
    return;
  }
  const int tokens_per_task = int(std::max<int64_t>(1, kTaskMultiplyAdds / per_token));
  const int tasks = (ntok + tokens_per_task - 1) / tokens_per_task;
  auto body = [&](int64_t task) {
    thread_local std::vector<float> xs, ys;
    xs.resize(n_);
    ys.resize(n_);
    const int t1 = std::min(ntok, int(task + 1) * tokens_per_task);
    for (int t = int(task) * tokens_per_task; t < t1; ++t) {
      float* row = x + int64_t(t) * n_;
      if (!transposed) {
        for (int i = 0; i < n_; ++i) xs[i] = row[perm_[i]];  // X = P x as p×q
        simd::SmallMatMul(xs.data(), p_, q_, bt_.data(), q_, ys.data());  // X·Bᵀ
        simd::SmallMatMul(a_.data(), p_, p_, ys.data(), q_, row);         // A·(X·Bᵀ)
      } else {
        simd::SmallMatMul(row, p_, q_, b_.data(), q_, ys.data());         // X·B
        simd::SmallMatMul(at_.data(), p_, p_, ys.data(), q_, xs.data());  // Aᵀ·(X·B)
        for (int i = 0; i < n_; ++i) row[perm_[i]] = xs[i];               // Pᵀ
      }
    }
  };
  if (tasks == 1) {
    body(0);
  } else {
    ThreadPool::Global().Run(tasks, body);
  }
}

FastHadamard::FastHadamard(const HadamardTransform& t) : n_(t.n()), k_(t.base_order()), m_(t.pow2()) {
  signs_.assign(t.signs().begin(), t.signs().end());
  if (k_ > 1) {
    const Eigen::MatrixXi h = HadamardMatrix(k_);
    hk_.resize(size_t(k_) * k_);
    hkt_.resize(hk_.size());
    for (int i = 0; i < k_; ++i)
      for (int j = 0; j < k_; ++j) hk_[size_t(i) * k_ + j] = float(h(i, j)), hkt_[size_t(j) * k_ + i] = float(h(i, j));
  }
}

void FastHadamard::Apply(float* x, int ntok) const { Run(x, ntok, false); }
void FastHadamard::ApplyTransposed(float* x, int ntok) const { Run(x, ntok, true); }

void FastHadamard::Run(float* x, int ntok, bool transposed) const {
  const float inv = 1.0f / std::sqrt(float(n_));
  // ~n(log2 m + K) operations per token: batch tokens until a task is worth handing out.
  const int64_t per_token = int64_t(n_) * (int64_t(std::log2(std::max(2, m_))) + k_);
  const int tokens_per_task = int(std::max<int64_t>(1, kTaskMultiplyAdds / per_token));
  const int tasks = (ntok + tokens_per_task - 1) / tokens_per_task;
  auto body = [&](int64_t task) {
    thread_local std::vector<float> tmp;
    tmp.resize(n_);
    const int t1 = std::min(ntok, int(task + 1) * tokens_per_task);
    for (int t = int(task) * tokens_per_task; t < t1; ++t) {
      float* row = x + int64_t(t) * n_;
      if (!transposed)
        for (int i = 0; i < n_; ++i) row[i] *= signs_[i];
      for (int a = 0; a < k_; ++a) simd::FastWalshHadamard(row + int64_t(a) * m_, m_);
      if (k_ > 1) {
        simd::SmallMatMul(transposed ? hkt_.data() : hk_.data(), k_, k_, row, m_, tmp.data());
        std::copy(tmp.begin(), tmp.end(), row);
      }
      if (!transposed) {
        for (int i = 0; i < n_; ++i) row[i] *= inv;
      } else {
        for (int i = 0; i < n_; ++i) row[i] *= signs_[i] * inv;
      }
    }
  };
  if (tasks == 1) {
    body(0);
  } else {
    ThreadPool::Global().Run(tasks, body);
  }
}

namespace {
std::variant<FastKronecker, FastHadamard> MakeFast(const Rotation& r) {
  if (r.kronecker() != nullptr) return FastKronecker(*r.kronecker());
  return FastHadamard(*r.hadamard());
}
}  // namespace

FastRotation::FastRotation(const Rotation& r) : impl_(MakeFast(r)) {}
void FastRotation::Apply(float* x, int ntok) const {
  std::visit([&](const auto& t) { t.Apply(x, ntok); }, impl_);
}
void FastRotation::ApplyTransposed(float* x, int ntok) const {
  std::visit([&](const auto& t) { t.ApplyTransposed(x, ntok); }, impl_);
}

}  // namespace quip::kernels
