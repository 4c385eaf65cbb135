// Scalar reference of the fused quantized matrix product: the oracle every fast
// kernel is tested against. Straight from the definition, no tricks:
//   y[t][r] = row_scale[r] * Σ_c (code[r][c] - row_zero[r]) * x[t][c]
// with codes read bit by bit from the packed stream and the sum in double, so it
// is (nearly) the exact value the fast float kernels approximate.
#pragma once

#include "kernels/packed_matrix.h"

namespace quip::kernels {

// x is [ntok, cols] row-major, y is [ntok, rows].
void QuantMatmulReference(const PackedMatrixView& w, const float* x, int ntok, float* y);

// The activations the Q8 kernel (q8_matmul_simd.h) effectively multiplies, written from
// its definition: per 256-column group a_g = max|x| / 127 and
// x̂_c = a_g · round_to_even(x_c · 127 / max|x|). QuantMatmulReference(w, x̂) is then the
// oracle of the Q8 kernel. One token (cols values).
void DequantizedQ8Activations(const float* x, int cols, float* x_hat);

// Code c of a packed row (bit-by-bit reading of the LSB-first stream).
int ReferenceCode(const uint8_t* row, int64_t c, int bits);

}  // namespace quip::kernels
