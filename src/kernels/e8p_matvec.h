// Decoding-time product with an E8P (QuIP#) matrix: y = W·x for one token, the codes
// decoded in registers and multiplied with int8-rounded activations (q8_activations.h).
//
// Row layout (format/stored_linear.h; G groups of 8 columns): stage-1 E8P indices as G
// little-endian u16, then for 3 bits one byte per group (the one-bit E8 codebook,
// format/vector_codebook.h), for 4 bits another G u16 E8P indices. Then
//   y[r] = ¼ · (scale₁ · Σ_c P₁[r][c]·x_c + scale₂ · Σ_c P₂[r][c]·x_c)
// with P = 4·(codebook point): small integers (E8P: odd, |·| ≤ 11; one-bit: 0, ±1, ±2, ±4).
//
// How a group is decoded (format/e8p.h has the index layout): 4·point_i = s_i·4a_i + δ with
// 4a from the 256-entry table of absolute patterns, signs s from the 7 sign bits and the
// parity of the pattern, δ = ±1 from the shift bit. So
//   Σ_i 4·point_i·xq_i = Σ_i 4a_i · (s_i·xq_i) + δ·Σ_i xq_i:
// one multiply-pair-add of the unsigned pattern with the sign-applied activations
// (vpmaddubsw after vpsignb), and the shift term from per-group activation sums in scalar
// code. The tables are 2 KiB each (L1), unlike a table of all 2^16 decoded points.
// E8PMatvecReference-style oracle: the tests decode with e8p::Decode in double and
// multiply with DequantizedQ8Activations (matmul_reference.h).
#pragma once

#include <cstdint>

namespace quip::kernels {

struct E8PMatrixView {
  int rows = 0;
  int groups = 0;  // groups of 8 columns (x has 8·groups values)
  int bits = 2;    // 2 (E8P), 3 (E8P + one-bit E8), 4 (E8P + E8P)
  int64_t row_bytes = 0;  // bits · groups
  const uint8_t* codes = nullptr;
  float stage_scale[2] = {0.0f, 0.0f};  // scale₁, scale₂ (unused at 2 bits)
};

// Which kernel E8PMatvec runs: kAuto picks the AVX-512 kernel (e8p_matvec_avx512.h) where
// the CPU has it and the portable Highway kernel (e8p_matvec_simd.h) elsewhere; kPortable
// forces the latter (tests check both on one machine). Process-wide.
enum class E8PImpl { kAuto, kPortable };
void SetE8PImpl(E8PImpl impl);
// The kernel E8PMatvec runs now: "avx512-vbmi-vnni-gfni" or the Highway target's name.
const char* E8PImplName();

// One token: x [8·groups] → y [rows]; rows split over the thread pool.
void E8PMatvec(const E8PMatrixView& w, const float* x, float* y);

// Row r of W as fp32 (8·groups values, exact: multiples of ¼ times the scales), from the
// same tables: for dequantized tiles (several tokens), scalar code.
void E8PDecodeRow(const E8PMatrixView& w, int r, float* out);

}  // namespace quip::kernels
