// Seeded random orthogonal transform with a fast apply (QuIP §4, "efficient
// orthogonal multiplication"): Q = (A ⊗ B) · P for n = p·q, where A (p×p) and
// B (q×q) are Haar-random orthogonal and P is a random permutation, (P x)_i = x[perm_i].
// p is the largest divisor of n not above √n, so p·q = n exactly; for a prime n,
// p = 1 and B alone is a dense n×n orthogonal matrix (O(n³) to generate, O(n²) to
// apply: correct but slow, and no Llama dimension is prime).
//
// Q x is computed by permuting x, viewing it as a row-major p×q matrix X and forming
// A·X·Bᵀ: n(p+q) multiply-adds instead of n².
//
// Only (n, seed) is stored with a model. The factors are generated with plain loops
// (Gaussian entries from SeededRandom, Gram–Schmidt with re-orthogonalisation) in a
// file compiled without FMA contraction, so they are bit-identical on every CPU.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <vector>

#include "format/seeded_random.h"

namespace quip {

class KroneckerTransform {
 public:
  KroneckerTransform(int n, uint64_t seed);

  int n() const { return n_; }
  int p() const { return p_; }
  int q() const { return q_; }
  uint64_t seed() const { return seed_; }

  // x is [ntok, n] row-major; each row x_t ← Q x_t (Apply) or Qᵀ x_t (ApplyTransposed).
  void Apply(float* x, int64_t ntok) const;
  void ApplyTransposed(float* x, int64_t ntok) const;
  void Apply(double* x, int64_t ntok) const;
  void ApplyTransposed(double* x, int64_t ntok) const;

  // Products with whole matrices, for the quantizer (M has n rows or n columns).
  Eigen::MatrixXd LeftMultiply(const Eigen::MatrixXd& m) const;             // Q·M
  Eigen::MatrixXd LeftMultiplyTransposed(const Eigen::MatrixXd& m) const;   // Qᵀ·M
  Eigen::MatrixXd RightMultiply(const Eigen::MatrixXd& m) const;            // M·Q
  Eigen::MatrixXd RightMultiplyTransposed(const Eigen::MatrixXd& m) const;  // M·Qᵀ

  // The explicit n×n matrix, built from the Kronecker definition (tests, small n).
  Eigen::MatrixXd Dense() const;

  const Eigen::MatrixXd& a() const { return a_; }
  const Eigen::MatrixXd& b() const { return b_; }
  const std::vector<int>& permutation() const { return perm_; }

 private:
  int n_, p_, q_;
  uint64_t seed_;
  Eigen::MatrixXd a_, b_;  // double factors (quantizer)
  Eigen::MatrixXf af_, bf_;  // float copies (inference)
  std::vector<int> perm_;
};

// Largest divisor of n that is ≤ √n (1 for primes).
int KroneckerSplit(int n);

// k×k Haar-random orthogonal matrix: QR of a Gaussian matrix with R's diagonal made
// positive (Gram–Schmidt does that by construction). Deterministic given `rng` state.
Eigen::MatrixXd RandomOrthogonal(int k, SeededRandom& rng);

}  // namespace quip
