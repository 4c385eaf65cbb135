// The rotations of quantized layers' activations, x ← Q x (V before the packed
// product) and z ← Qᵀ z (Uᵀ after), for inference, in float with tokens spread over
// the thread pool:
//   FastKronecker  format/kronecker.h's Q = (A ⊗ B)·P: A·X·Bᵀ with X the p×q view of P x,
//                  two products per token by a SIMD small-matrix kernel, O(n(p+q));
//   FastHadamard   format/hadamard.h's Q = (H_K ⊗ H_{2^k})·diag(s)/√n: signs, a fast
//                  Walsh-Hadamard transform of each of the K rows of 2^k, and for K > 1
//                  one K×K product by the same small-matrix kernel, O(n(log n + K)).
// FastRotation picks the one a quip::Rotation holds. The format/ transforms stay the
// references (IncoherentLinear::ForwardReference, tests/kernels/rotation_test.cc).
#pragma once

#include <vector>

#include <variant>

#include "format/hadamard.h"
#include "format/kronecker.h"
#include "format/rotation.h"

namespace quip::kernels {

class FastKronecker {
 public:
  explicit FastKronecker(const KroneckerTransform& t);

  // x is [ntok, n] row-major.
  void Apply(float* x, int ntok) const;
  void ApplyTransposed(float* x, int ntok) const;

 private:
  void Run(float* x, int ntok, bool transposed) const;
  int n_, p_, q_;
  // Row-major float factors: forward Z = A·X·Bᵀ, transposed Z = Aᵀ·X·B.
  std::vector<float> a_, at_, b_, bt_;
  std::vector<int> perm_;
};

class FastHadamard {
 public:
  explicit FastHadamard(const HadamardTransform& t);

  void Apply(float* x, int ntok) const;
  void ApplyTransposed(float* x, int ntok) const;

 private:
  void Run(float* x, int ntok, bool transposed) const;
  int n_, k_, m_;
  std::vector<float> signs_;   // ±1
  std::vector<float> hk_, hkt_;  // H_K and H_Kᵀ, row-major (empty for K = 1)
};

class FastRotation {
 public:
  explicit FastRotation(const Rotation& r);
  void Apply(float* x, int ntok) const;
  void ApplyTransposed(float* x, int ntok) const;

 private:
  std::variant<FastKronecker, FastHadamard> impl_;
};

}  // namespace quip::kernels
