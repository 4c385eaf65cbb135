// Per-target SIMD product of small row-major matrices (small_matmul_simd.cc), the
// building block of the Kronecker rotations of activations (rotation.h): K and N are
// the Kronecker factors' sizes (16–128), where BLAS call overhead and Eigen's packing
// cost more than the arithmetic.
#pragma once

namespace quip::kernels::simd {

// C[m×n] = L[m×k] · R[k×n], all row-major and dense (ld = number of columns).
void SmallMatMul(const float* l, int m, int k, const float* r, int n, float* c);

}  // namespace quip::kernels::simd
