// Fast products with packed 2/3/4-bit matrices (the G of quant/quantized_matrix.h):
//   y[t][r] = row_scale[r] * Σ_c (code[r][c] - row_zero[r]) * x[t][c]
// computed as row_scale[r] * (Σ_c code·x − row_zero[r]·Σ_c x), with Σ_c x once per token.
//
// QuantMatmul: fused unpack + dot in SIMD registers, rows split over the persistent
//   thread pool. For decoding and small batches: the weights are read once, as packed
//   bytes. One token at 2 or 4 bits (decoding) runs on int8 activations
//   (q8_matmul_simd.h: integer dot products, exact for the activations rounded to int8
//   per 256 columns); otherwise float (quant_matmul_simd.cc, up to 8 tokens per pass).
// QuantGemm: row tiles dequantized to fp32 (SIMD) and multiplied with BLAS sgemm on the
//   thread pool. For prompt evaluation and perplexity, where many tokens amortise the
//   dequantization.
// The float paths agree with QuantMatmulReference (matmul_reference.h) to float
// rounding; the int8 path agrees with it on the rounded activations.
#pragma once

#include "kernels/packed_matrix.h"

namespace quip::kernels {

// x is [ntok, cols] row-major, y is [ntok, rows].
void QuantMatmul(const PackedMatrixView& w, const float* x, int ntok, float* y);
void QuantGemm(const PackedMatrixView& w, const float* x, int ntok, float* y);

// The SIMD target chosen for this CPU ("AVX2", "AVX3", "NEON", ...).
const char* KernelTarget();

}  // namespace quip::kernels
