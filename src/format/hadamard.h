// Hadamard matrices and the randomized Hadamard transform (RHT) of QuIP# (seed 003,
// "incoherence processing with the RHT"), an alternative to KroneckerTransform.
//
// Hadamard matrices: H (K×K, entries ±1) with H·Hᵀ = K·I. Built in code:
//   K = 1, 2, 4, ... (Sylvester: H_{2m} = [[H_m, H_m], [H_m, −H_m]], i.e.
//                     H(i, j) = (−1)^popcount(i & j))
//   K = 12, 20, 44, 60, 108, 140  Paley I, q = K−1 prime ≡ 3 (mod 4):
//       H = I + S, S = [[0, 1ᵀ], [−1, Q]], Q(i, j) = χ(j − i) (quadratic character of GF(q))
//   K = 28, 36, 52           Paley II, q = K/2−1 ≡ 1 (mod 4) (13, 17, and 25 = GF(5²)):
//       C = [[0, 1ᵀ], [1, Q]] (symmetric), H = C ⊗ [[1, 1], [1, −1]] + I ⊗ [[1, −1], [−1, −1]]
//   K = 156, 172             Williamson type, K = 4t (t = 39, 43): four symmetric circulant
//       ±1 matrices A, B, C, D with A²+B²+C²+D² = 4t·I in the Williamson array
//       [[A, B, C, D], [−B, A, −D, C], [−C, D, A, −B], [−D, −C, B, A]]. Their first rows
//       are the only data here (from N. J. A. Sloane's library of Hadamard matrices,
//       had.156.will / had.172.will); no Paley or doubling construction reaches 156 or 172.
//
// The transform. For n = K·2^k with K ∈ {1, 12, 20, 28, 36, 44, 52, 60, 108, 140, 156, 172}
// (the odd part of n picks K; n must be ≥ K):
//   Q = (1/√n) · (H_K ⊗ H_{2^k}) · diag(s),   s ∈ {±1}^n from the seed,
// an orthogonal matrix (Qᵀ Q = I). A vector x of length n is viewed as a row-major
// K×2^k matrix X (x[a·2^k + b] = X(a, b)); then (H_K ⊗ H_{2^k}) x = H_K · X · H_{2^k}:
// a fast Walsh–Hadamard transform (O(n log n) butterflies) of each row of X followed by
// one K×K product over the rows (O(K·n); none for K = 1). Qᵀ = diag(s)·(H_Kᵀ ⊗ H_{2^k})/√n.
//
// Reproducibility: only (n, seed) is stored. The signs are s_i = 1 − 2·(bit 63 of the
// i-th 64-bit draw of SeededRandom(MixSeed(seed))), i = 0..n−1 in order (mt19937_64,
// identical everywhere); the transform itself is ±1 additions and one scaling, compiled
// without FMA contraction (hadamard.cc has -ffp-contract=off).
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <string>
#include <vector>

namespace quip {

// The K×K Hadamard matrix built as above, for K = 1, 2, 4 (any power of two), and the
// listed K. Throws quip::Error for any other order.
Eigen::MatrixXi HadamardMatrix(int k);
// The orders this file constructs besides powers of two: 12, 20, 28, 36, 44, 52, 60, 108,
// 140, 156, 172 (44 = 4·11: 5632, TinyLlama's intermediate size, is 44·128).
const std::vector<int>& HadamardBaseOrders();
// "1, 12, 20, ..." for error messages.
std::string SupportedHadamardOrdersText();

// The K that n = K·2^k uses (1 for powers of two), or 0 when n is not supported (the
// caller then falls back to KroneckerTransform and says so).
int HadamardBaseOrder(int n);
inline bool IsHadamardSupported(int n) { return HadamardBaseOrder(n) > 0; }

// In-place unnormalised Walsh–Hadamard transform x ← H_m x of length m = 2^k, as the
// blocks of Sylvester's H_m (H_m symmetric, H_m² = m·I).
void FastWalshHadamard(float* x, int m);
void FastWalshHadamard(double* x, int m);

class HadamardTransform {
 public:
  // Throws quip::Error when !IsHadamardSupported(n).
  HadamardTransform(int n, uint64_t seed);

  int n() const { return n_; }
  int base_order() const { return k_; }  // K
  int pow2() const { return m_; }        // 2^k
  uint64_t seed() const { return seed_; }
  const std::vector<int8_t>& signs() const { return signs_; }

  // x is [ntok, n] row-major; each row x_t ← Q x_t (Apply) or Qᵀ x_t (ApplyTransposed).
  // ApplyTransposed undoes Apply (Undo is an alias). Float is the inference path.
  void Apply(float* x, int64_t ntok) const;
  void ApplyTransposed(float* x, int64_t ntok) const;
  void Apply(double* x, int64_t ntok) const;
  void ApplyTransposed(double* x, int64_t ntok) const;
  void Undo(float* x, int64_t ntok) const { ApplyTransposed(x, ntok); }
  void Undo(double* x, int64_t ntok) const { ApplyTransposed(x, ntok); }

  // Products with whole matrices, for the quantizer (M has n rows or n columns); the
  // both-sides use is W' = U·W·Vᵀ = LeftMultiply on U's transform, RightMultiplyTransposed on V's.
  Eigen::MatrixXd LeftMultiply(const Eigen::MatrixXd& m) const;             // Q·M
  Eigen::MatrixXd LeftMultiplyTransposed(const Eigen::MatrixXd& m) const;   // Qᵀ·M
  Eigen::MatrixXd RightMultiply(const Eigen::MatrixXd& m) const;            // M·Q
  Eigen::MatrixXd RightMultiplyTransposed(const Eigen::MatrixXd& m) const;  // M·Qᵀ

  // The explicit n×n matrix Q from the definition (tests, small n).
  Eigen::MatrixXd Dense() const;

 private:
  template <typename T>
  void Run(T* x, int64_t ntok, bool transposed) const;

  int n_, k_, m_;
  uint64_t seed_;
  std::vector<int8_t> signs_;
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> hk_f_;   // H_K
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> hk_d_;
};

}  // namespace quip
