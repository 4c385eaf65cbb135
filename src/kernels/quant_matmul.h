// Fast products with packed 2/3/4-bit matrices (the G of quant/quantized_matrix.h):
//   y[t][r] = row_scale[r] * Σ_c (code[r][c] - row_zero[r]) * x[t][c]
// computed as row_scale[r] * (Σ_c code·x − row_zero[r]·Σ_c x), with Σ_c x once per token.
//
// QuantMatmul: fused unpack + dot in SIMD registers (quant_matmul_simd.cc), rows split
//   over the persistent thread pool, up to 8 tokens per pass over the weights. For
//   decoding and small batches: the weights are read once, as packed bytes.
// QuantGemm: row tiles dequantized to fp32 (SIMD) and multiplied with BLAS sgemm. For
//   prompt evaluation and perplexity, where many tokens amortise the dequantization.
// Both agree with QuantMatmulReference (matmul_reference.h) to float rounding.
#pragma once

#include "kernels/packed_matrix.h"

namespace quip::kernels {

// x is [ntok, cols] row-major, y is [ntok, rows].
void QuantMatmul(const PackedMatrixView& w, const float* x, int ntok, float* y);
void QuantGemm(const PackedMatrixView& w, const float* x, int ntok, float* y);

// The SIMD target chosen for this CPU ("AVX2", "AVX3", "NEON", ...).
const char* KernelTarget();

}  // namespace quip::kernels
