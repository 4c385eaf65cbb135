// The E8P decode kernel for x86 CPUs with AVX-512 VBMI, VNNI and GFNI (Ice Lake and later,
// Zen 4 and later), chosen at run time by e8p_matvec.cc; other CPUs run the portable Highway
// kernel (e8p_matvec_simd.h). Same formula (e8p_matvec.h), decoded without table reads in
// the inner loop: ~3x the portable kernel's speed on Zen 4 (bench/matvec_bench). The 3-bit
// second stage (the one-bit E8 codebook) and the fp32 row decoder for prompt tiles use the
// same machinery.
//
// Why it is faster. The portable kernel reads two 8-byte table entries per group of 8
// weights (pattern and signs) with scalar loads and assembles them into vectors. Here a
// block of 64 groups (512 columns) is decoded at once, in registers:
//   - the 64 pattern indices (index bits 15..8) look up the pattern's bit planes (with
//     2a_i = 1 + 2c_i, c_i ∈ {0, 1, 2}: one byte of c_i & 1, one of c_i >> 1) in 256-byte
//     tables held in registers (two vpermi2b per plane);
//   - the 64 sign bytes come from one GF(2) affine map (vgf2p8affineqb) of the index's low
//     bytes: bit i < 7 is index bit 1 + i, bit 7 the parity of bits 7..1; coordinate 7's
//     other parity term, Σa = 4 + Σc ≡ popcount(c & 1), is a second affine map of the low
//     bit plane, XORed in;
//   - each byte of those planes is a lane mask for 8 consecutive weights, so per 64 weights:
//     the signs negate activations (masked subtract), two masked blends build |4a| ∈
//     {2, 6, 10}, and one vpdpbusd multiplies and sums;
//   - the shift δ = ±1 adds δ·Σ_{group} xq: 2·Σ over groups with the shift bit set (masked
//     int16 group sums, vpdpwssd), minus Σ over all groups (a per-token constant).
#pragma once

#include "kernels/e8p_matvec_simd.h"

namespace quip::kernels::avx512 {

// Whether this CPU (and compiler) can run the kernels below.
bool Supported();

// y[r] for rows [r0, r1), as simd::E8PRows. Requires Supported().
void E8PRows(const E8PMatrixView& w, const simd::E8PTables& t, const simd::E8PActivations& a, int r0, int r1,
             float* y);

// Row r of W as fp32 (8·groups values), as kernels::E8PDecodeRow. Requires Supported().
void E8PDecodeRow(const E8PMatrixView& w, const simd::E8PTables& t, int r, float* out);

}  // namespace quip::kernels::avx512
