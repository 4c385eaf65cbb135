// Random test problems for the quantizer tests: weights, and proxy Hessians that
// look like real ones (correlated, approximately low rank) or are deliberately
// ill-conditioned. Test-only, so std::normal_distribution is fine here.
#pragma once

#include <Eigen/Dense>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace quip::testing {

inline Eigen::MatrixXd RandomGaussian(int rows, int cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd m(rows, cols);
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < rows; ++i) m(i, j) = normal(rng);
  return m;
}

// H = E[x xᵀ] over `tokens` samples x = M z with a random mixing M and per-feature
// scales spread over two decades: correlated, with a decaying spectrum.
inline Eigen::MatrixXd RandomHessian(int n, uint64_t seed, int tokens = 0) {
  if (tokens <= 0) tokens = 4 * n;
  const Eigen::MatrixXd mix = RandomGaussian(n, n, seed) / std::sqrt(double(n));
  Eigen::VectorXd scale(n);
  for (int i = 0; i < n; ++i) scale[i] = std::pow(10.0, -2.0 * i / n);
  const Eigen::MatrixXd z = RandomGaussian(n, tokens, seed + 1);
  const Eigen::MatrixXd x = scale.asDiagonal() * (mix * z);
  Eigen::MatrixXd h = x * x.transpose() / double(tokens);
  h = 0.5 * (h + h.transpose()).eval();
  return h;
}

// Q diag(λ) Qᵀ with λ log-spaced from 1 down to 1/condition and a random orthogonal Q.
inline Eigen::MatrixXd IllConditionedHessian(int n, double condition, uint64_t seed) {
  const Eigen::HouseholderQR<Eigen::MatrixXd> qr(RandomGaussian(n, n, seed));
  const Eigen::MatrixXd q = qr.householderQ();
  Eigen::VectorXd lambda(n);
  for (int i = 0; i < n; ++i) lambda[i] = std::pow(condition, -double(i) / std::max(1, n - 1));
  Eigen::MatrixXd h = q * lambda.asDiagonal() * q.transpose();
  h = 0.5 * (h + h.transpose()).eval();
  return h;
}

inline std::vector<float> ToRowMajorFloats(const Eigen::MatrixXd& m) {
  std::vector<float> v(size_t(m.rows()) * m.cols());
  for (int i = 0; i < m.rows(); ++i)
    for (int j = 0; j < m.cols(); ++j) v[size_t(i) * m.cols() + j] = float(m(i, j));
  return v;
}

// Bound on |Δy| of a product y = Uᵀ·G·x' computed with x' rounded to int8 per 256
// columns (kernels/q8_activations.h: half a step a_g/2 = max|x'_g|/254 per value):
// |Δz_r| ≤ Σ_c |G_rc|·a_g/2 and |Δy_i| ≤ Σ_r |U_ri|·|Δz_r|. G is in the rotated basis
// (rows × cols of x'), U the output rotation (identity when there is none).
inline Eigen::VectorXd Q8RoundingBound(const Eigen::MatrixXd& g, const Eigen::VectorXd& x_rot,
                                       const Eigen::MatrixXd& u) {
  Eigen::VectorXd half_step(x_rot.size());
  for (Eigen::Index c0 = 0; c0 < x_rot.size(); c0 += 256) {
    const Eigen::Index n = std::min<Eigen::Index>(256, x_rot.size() - c0);
    half_step.segment(c0, n).setConstant(0.5 * x_rot.segment(c0, n).cwiseAbs().maxCoeff() / 127.0 * (1 + 1e-6));
  }
  return u.cwiseAbs().transpose() * (g.cwiseAbs() * half_step);
}

// The float-rounded matrix QuantizeMatrix actually sees.
inline Eigen::MatrixXd FloatRounded(const Eigen::MatrixXd& m) { return m.cast<float>().cast<double>(); }

}  // namespace quip::testing
