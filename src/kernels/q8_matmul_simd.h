// Fused matvec of packed 2- and 4-bit matrices with int8-quantized activations (the
// llama.cpp "Q8" idea applied to QuIP's grid) for decoding, one token per call;
// per-CPU-target entry points picked at run time by Highway's dynamic dispatch.
// Callers use quant_matmul.h.
//
// Why: the float kernel (quant_matmul_simd.h) spends an AND, an int→float conversion
// and an FMA per 8 weights, which makes 2-bit decode compute-bound (docs/kernels.md).
// With activations in int8, one multiply-pair-add instruction (vpmaddubsw on x86)
// takes 32 code×activation byte products, so the weights stream at memory speed.
//
// Only single-token products take this path: decoding is where the weights stream and
// the float kernel's instruction count limits speed. Several tokens (prompt chunks,
// perplexity windows) stay exact in float, so perplexity through the fast path equals
// the reference path to float rounding.
//
// Activations are rounded to int8 per group of kQ8Group columns (q8_activations.h:
// x_c ≈ a_g·xq_c) and the product is
//   y[r] = row_scale[r] · (Σ_g a_g Σ_{c∈g} code[r][c]·xq_c − row_zero[r]·xsum),
//   xsum = Σ_g a_g Σ_{c∈g} xq_c
// i.e. exactly G·x̂ for the dequantized activations x̂_c = a_g·xq_c, up to float rounding.
// The error against G·x is |Δy| ≤ row_scale · Σ_c |code − zero| · a_g/2 (half a step per
// activation); after the incoherence rotation activations have no outliers, so a step
// is ~1/30 of their RMS. The tests' oracle is QuantMatmulReference on
// DequantizedQ8Activations (matmul_reference.h).
//
// Column order inside the kernel: a row is consumed in blocks of B = k·V codes (V bytes
// per vector, k = 8/bits codes per byte); code j of byte i of a block is column k·i + j
// and meets SIMD position j·V + i of the activations, so one shift + AND extracts code
// j of all V bytes at once. PrepareQ8 writes xq in that order; columns past the last
// full block keep their natural order (scalar tail). B divides kQ8Group on every target.
#pragma once

#include <cstdint>

#include "kernels/packed_matrix.h"
#include "kernels/q8_activations.h"

namespace quip::kernels::simd {

// Whether the Q8 kernel handles this bit width (2 and 4; 3-bit codes straddle bytes).
constexpr bool Q8Supports(int bits) { return bits == 2 || bits == 4; }

// One token: x [cols] → xq [cols] (kernel column order), group_scale [Q8Groups(cols)]
// (the a_g above) and *xsum.
void PrepareQ8(int bits, const float* x, int cols, int8_t* xq, float* group_scale, float* xsum);

// y[r] for rows [r0, r1).
void MatmulRowsQ8(const PackedMatrixView& w, const int8_t* xq, const float* group_scale, float xsum, int r0, int r1,
                  float* y);

}  // namespace quip::kernels::simd
