#include "quant/hessian.h"

#include <algorithm>

#include "core/error.h"

namespace quip {
namespace {

// Tokens converted to double per rank-k update: bounds the scratch to 256·n doubles
// while keeping the update a cache-friendly matrix product.
constexpr int kChunk = 256;

}  // namespace

HessianAccumulator::HessianAccumulator(int n) : n_(n) {
  QUIP_CHECK_INPUT(n > 0, "HessianAccumulator", "dimension must be positive, got {}", n);
  sum_ = Eigen::MatrixXd::Zero(n, n);
}

void HessianAccumulator::Add(const float* x, int ntok) {
  QUIP_CHECK_INPUT(ntok >= 0, "HessianAccumulator", "negative token count {}", ntok);
  using RowMatF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  for (int t0 = 0; t0 < ntok; t0 += kChunk) {
    const int k = std::min(kChunk, ntok - t0);
    Eigen::Map<const RowMatF> block(x + int64_t(t0) * n_, k, n_);
    QUIP_CHECK_INPUT(block.allFinite(), "Hessian inputs", "activations contain NaN or Inf (tokens {}..{})",
                     count_ + t0, count_ + t0 + k - 1);
    // Column-major n×k: the k token vectors as columns, so sum += Xᵀ·X is a rank-k update.
    const Eigen::MatrixXd xt = block.transpose().cast<double>();
    sum_.selfadjointView<Eigen::Lower>().rankUpdate(xt);
  }
  count_ += ntok;
}

Eigen::MatrixXd HessianAccumulator::Mean() const {
  QUIP_CHECK_INPUT(count_ > 0, "HessianAccumulator", "no inputs were added");
  Eigen::MatrixXd h = sum_.selfadjointView<Eigen::Lower>();
  return h / double(count_);
}

}  // namespace quip
