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

// Code c of a packed row (bit-by-bit reading of the LSB-first stream).
int ReferenceCode(const uint8_t* row, int64_t c, int bits);

}  // namespace quip::kernels
