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
  // Adds another accumulator's tokens (same n), e.g. one filled by another thread.
  void Merge(const HessianAccumulator& other);
  // Sum / count; throws quip::Error if nothing was added.
  Eigen::MatrixXd Mean() const;
  int64_t count() const { return count_; }
  int n() const { return n_; }
  // The running sum (lower triangle) and token count, for adding up accumulators that other
  // processes filled (pipeline/process_group.h).
  Eigen::MatrixXd& raw_sum() { return sum_; }
  void set_count(int64_t count) { count_ = count; }

 private:
  int n_;
  int64_t count_ = 0;
  Eigen::MatrixXd sum_;  // lower triangle only, filled by rank-k updates
};

// Accumulates the cross moment C = E[x x̂ᵀ] between the inputs a layer has in the
// original model (x) and in the partly quantized one (x̂), token by token. With H =
// E[x̂ x̂ᵀ], W·C·H⁻¹ is the weight whose output on x̂ best matches W's output on x.
class CrossMomentAccumulator {
 public:
  explicit CrossMomentAccumulator(int n);

  // x and x_hat are [ntok, n] row-major, row t of both from the same token.
  void Add(const float* x, const float* x_hat, int ntok);
  void Merge(const CrossMomentAccumulator& other);
  // Sum / count; throws quip::Error if nothing was added.
  Eigen::MatrixXd Mean() const;
  // As HessianAccumulator's (the whole matrix).
  Eigen::MatrixXd& raw_sum() { return sum_; }
  void set_count(int64_t count) { count_ = count; }

 private:
  int n_;
  int64_t count_ = 0;
  Eigen::MatrixXd sum_;
};

// The weight whose outputs on the quantized model's inputs x̂ best match W's outputs
// on the original inputs x: argmin E‖W' x̂ − W x‖² = W·C·H⁻¹ with C = E[x x̂ᵀ] and
// H = E[x̂ x̂ᵀ] damped by α·mean(diag H) as the quantizer damps it. Rounding W' against H
// then minimizes E‖Ŵ x̂ − W x‖² (GPTAQ's asymmetric calibration, Li et al. 2025).
Eigen::MatrixXd AsymmetricTarget(const Eigen::MatrixXd& W, const Eigen::MatrixXd& C, const Eigen::MatrixXd& H,
                                 double damping);

// The same fit for several linears of one input (q/k/v, gate/up) as W' = W·A with the map
// A = C·H⁻¹ (H damped as above) formed once: n³/3 + 2n³ for A, then 2mn² per linear
// (one DGEMM), instead of n³/3 + 4mn² per linear. Equal to AsymmetricTarget up to the
// floating-point order.
Eigen::MatrixXd AsymmetricMap(const Eigen::MatrixXd& C, const Eigen::MatrixXd& H, double damping);
Eigen::MatrixXd ApplyAsymmetricMap(const Eigen::MatrixXd& W, const Eigen::MatrixXd& map);
// Whether the map costs less than per-linear targets for `count` linears of `rows` rows in
// all on n inputs: count·n³/3 + 4·rows·n² > 7n³/3 + 2·rows·n².
bool ShareAsymmetricMap(int64_t rows, int count, int n);

}  // namespace quip
