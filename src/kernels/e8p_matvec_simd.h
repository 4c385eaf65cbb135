// Per-CPU-target entry point of the E8P decode kernel (e8p_matvec_simd.cc), picked at
// run time by Highway's dynamic dispatch; the seam between the SIMD file and the
// threading glue (e8p_matvec.cc). Callers use e8p_matvec.h.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/e8p_matvec.h"

namespace quip::kernels::simd {

// Decode tables (e8p_matvec.h explains the formula); 8 bytes per entry, read as u64.
// The sign of coordinate 7 (e8p.h: odd popcount of the sign bits plus Σa ⇔ negative) is
// split between the two tables: `pattern` negates coordinate 7 when Σa is odd, `signs`
// when its 7 bits have odd popcount; the product of the two is the point's sign.
struct E8PTables {
  alignas(64) uint64_t pattern[256];  // entry p: ±4·a_i (2, 6 or 10) as 8 signed bytes
  alignas(64) uint64_t signs[128];    // index bits 7..1 → ±1 per coordinate
  alignas(64) uint64_t one_bit[256];  // the one-bit E8 codebook, 4·point as 8 signed bytes
  // The same patterns as bit planes, for the AVX-512 kernel (e8p_matvec_avx512.h): with
  // 2a_i = 1 + 2c_i, c_i ∈ {0, 1, 2}, bit i of low_bits[p] is c_i & 1, of high_bits[p] c_i >> 1.
  alignas(64) uint8_t low_bits[256];
  alignas(64) uint8_t high_bits[256];
  // The one-bit codebook as bit planes of u = 4·point + 16 ∈ [12, 20]: one_bit_planes[p][b]
  // has bit i set when bit 3 − p of coordinate i's u is (planes B3, B2, B1, B0; bit 4 = ¬B3).
  alignas(64) uint8_t one_bit_planes[4][256];
};

// 4·point of group g of one stage (u16 E8P indices, or one-bit byte indices), scalar:
// the SIMD kernel's tail groups and the fp32 tile decoder.
inline void DecodeGroup(const E8PTables& t, const uint8_t* codes, int g, bool one_bit, int8_t* p) {
  if (one_bit) {
    std::memcpy(p, &t.one_bit[codes[g]], 8);
    return;
  }
  int8_t pattern[8], sign[8];
  std::memcpy(pattern, &t.pattern[codes[2 * g + 1]], 8);
  std::memcpy(sign, &t.signs[codes[2 * g] >> 1], 8);
  const int shift = (codes[2 * g] & 1) ? 1 : -1;
  for (int i = 0; i < 8; ++i) p[i] = int8_t(sign[i] * pattern[i] + shift);
}

// One token's activations as the kernel reads them.
struct E8PActivations {
  const int8_t* xq = nullptr;          // [8·groups], q8_activations.h
  const float* group_scale = nullptr;  // [Q8Groups(8·groups)]
  const int16_t* group_sum = nullptr;  // [groups]: Σ of the 8 xq of each group
  float scaled_sum = 0.0f;             // Σ_g a_g · group_sum[g] (a_g: the group's activation scale)
};

// y[r] for rows [r0, r1).
void E8PRows(const E8PMatrixView& w, const E8PTables& t, const E8PActivations& a, int r0, int r1, float* y);

}  // namespace quip::kernels::simd
