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
//   - the shift bit d (δ = 2d − 1) is a fourth plane, one byte 0x00/0xFF per group; one byte
//     permute gathers a group's four plane bytes into a qword and one affine map with that
//     qword as its matrix transposes them into the weight bytes u = 4·point + 16 =
//     1 + 2d + 4(low ⊕ s) + 8(high ⊕ s) + 16(1 ⊕ s) (Weights() in the .cc);
//   - one vpdpbusd per 64 weights multiplies them with the int8 activations (the +16 adds
//     16·Σ xq, a per-token constant).
//
// Pairs (4-bit RVQ, and 2-bit rows two at a time). Two E8P index rows multiplied with the
// same activations — a 4-bit row's two stages, or 2-bit rows r and r + 1 (both 2·groups
// bytes apart) — are decoded together, 32 groups of each per activation group, and every
// byte permute + affine map makes 64 bytes v₁ + 16·v₂ with v = (u − 1)/2 a nibble: one
// vpdpbusd of those bytes masked to the low nibbles gives Σ v₁·xq, one of the whole bytes
// Σ (v₁ + 16·v₂)·xq, so 64 weights of both rows take a permute, an affine map, an and and two
// vpdpbusd instead of two of each. The next activation group (also across rows) is decoded
// before this one's products are issued, so that the long decode chain overlaps them. In
// cache, one thread (bench/matvec_bench): 4-bit ~1.35x, 2-bit ~1.25x the one-row-at-a-time
// loop. 3-bit rows (E8P + the one-bit codebook) and a task's odd last row at 2 bits run the
// single-row loop (StageDot).
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
