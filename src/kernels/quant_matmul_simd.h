// Per-CPU-target entry points of the SIMD kernels (quant_matmul_simd.cc), picked at
// run time by Highway's dynamic dispatch. Callers use quant_matmul.h; this header
// is the seam between the SIMD file and the threading/BLAS glue.
//
// SIMD column order. A row is consumed in blocks of B = N·k codes (N = 32-bit lanes
// of the target, k = codes per lane: 16 at 2 bits, 8 at 3 and 4 bits). Lane i of a
// block holds the packed bits of codes [i·k, (i+1)·k) (4 bytes per lane at 2 and 4
// bits, 3 bytes = 8 codes at 3 bits), and one AND extracts code j of every lane at
// once, so SIMD position j·N + i stands for column i·k + j. Activations are put in
// that order once per call (PrepareActivations); columns past the last full block
// keep their natural order and are handled by scalar code.
#pragma once

#include <cstddef>

#include "kernels/packed_matrix.h"

namespace quip::kernels::simd {

// Most tokens MatmulRows handles per pass over the weights (accumulators in registers).
constexpr int kMaxTokensPerPass = 8;

// x [ntok, cols] → xp [ntok, cols] in SIMD column order; xsum[t] = Σ_c x[t][c]
// (skipped when xsum is null).
// `prescale`: multiply column i·k + j by 2^(-bits·j), the power of two that the
// matvec's AND-without-shift leaves on code j (exact in floating point).
void PrepareActivations(int bits, const float* x, int ntok, int cols, bool prescale, float* xp, float* xsum);

// y[t·rows + r] = row_scale[r]·(Σ_c code[r][c]·x[t][c] − row_zero[r]·xsum[t]) for rows
// [r0, r1) and t < ntok ≤ kMaxTokensPerPass; xp from PrepareActivations(prescale=true).
void MatmulRows(const PackedMatrixView& w, const float* xp, const float* xsum, int ntok, int r0, int r1, float* y);

// out[r·cols + j] = grid value of rows [r0, r0 + nr), columns in SIMD column order
// (multiply with PrepareActivations(prescale=false) activations).
void DequantizeRows(const PackedMatrixView& w, int r0, int nr, float* out);

// Name of the target the dispatcher picked ("AVX2", "AVX3", "NEON", ...).
const char* TargetName();

}  // namespace quip::kernels::simd
