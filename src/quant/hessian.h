// Accumulates the proxy Hessian H = E[x xᵀ] of one linear layer's inputs over the
// calibration set (QuIP §2). Sums are kept in double: with ~10⁵–10⁶ tokens, float
// sums lose the small eigenvalues LDLQ depends on.
#pragma once

#include <Eigen/Dense>
#include <cstdint>

namespace quip {

class HessianAccumulator {
 public:
  explicit HessianAccumulator(int n);

  // x is [ntok, n] row-major (the layer's inputs for ntok tokens).
  void Add(const float* x, int ntok);
  // Sum / count; throws quip::Error if nothing was added.
  Eigen::MatrixXd Mean() const;
  int64_t count() const { return count_; }
  int n() const { return n_; }

 private:
  int n_;
  int64_t count_ = 0;
  Eigen::MatrixXd sum_;  // lower triangle only, filled by rank-k updates
};

}  // namespace quip
