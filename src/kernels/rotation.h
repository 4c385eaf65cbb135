// The Kronecker rotations of QuantizedLinear's activations, x ← Q x (V before the
// packed product) and z ← Qᵀ z (Uᵀ after), for inference: the same transform as
// quant/kronecker.h's KroneckerTransform (Q = (A ⊗ B)·P), in float, with the two
// factor products of each token done by a SIMD small-matrix kernel and tokens spread
// over the thread pool. O(n(p+q)) per token: A·X·Bᵀ with X the p×q view of P x.
// KroneckerTransform::Apply stays the reference (QuantizedLinear::ForwardReference).
#pragma once

#include <vector>

#include "quant/kronecker.h"

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

}  // namespace quip::kernels
