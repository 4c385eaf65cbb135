// Scalar reference of the fused quantized matrix product: the oracle every fast
// kernel is tested against. Straight from the definition, no tricks:
//   y[t][r] = row_scale[r] * Σ_c (code[r][c] - row_zero[r]) * x[t][c]
// with codes read bit by bit from the packed stream and the sum in double, so it
// is (nearly) the exact value the fast float kernels approximate.
#pragma once

#include <vector>

#include "kernels/packed_matrix.h"

namespace quip::kernels {

// x is [ntok, cols] row-major, y is [ntok, rows].
void QuantMatmulReference(const PackedMatrixView& w, const float* x, int ntok, float* y);

// The int8-rounded activations of one token, written from the definition of
// q8_activations.h in exact (double) arithmetic rather than restating its float code:
// per group g of 256 columns, a_g = max|x| / 127 and x̂_c = a_g · q_c, q_c the integer
// nearest to x_c / a_g, ties to even (a group with a non-finite value: x̂ = NaN).
// QuantMatmulReference(w, x̂) is then the oracle of the Q8 and E8P decode kernels.
//
// The kernel computes x_c · (127 / max|x|) in float, off from x_c / a_g by at most
// 2^-23 · 127 ≈ 1.5e-5; where x_c / a_g lies within kQ8TieWindow of a half-integer it may
// round to the other neighbour, so tie_slack[c] = a_g there (the most x̂_c can move),
// else 0.
struct Q8RoundedActivations {
  std::vector<double> x_hat;
  std::vector<double> tie_slack;
};
constexpr double kQ8TieWindow = 3e-5;
Q8RoundedActivations DequantizedQ8Activations(const float* x, int cols);

// Code c of a packed row (bit-by-bit reading of the LSB-first stream).
int ReferenceCode(const uint8_t* row, int64_t c, int bits);

}  // namespace quip::kernels
