// AVX-512 E8P kernel (e8p_matvec_avx512.h explains the decoding). Compiled with function
// target attributes, so the rest of the build keeps its own -march; called only when
// Supported() says the CPU has the instructions.
#include "kernels/e8p_matvec_avx512.h"

#include <algorithm>

#include "core/error.h"

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12's AVX-512 headers start some intrinsics from _mm512_undefined_*, which its own
// uninitialized-use analysis then flags in every caller.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define QUIP_E8P_AVX512 1
#define QUIP_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx512vnni,gfni")))
#endif

namespace quip::kernels::avx512 {

#if QUIP_E8P_AVX512

bool Supported() {
  static const bool supported = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                                __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                                __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vnni") &&
                                __builtin_cpu_supports("gfni");
  return supported;
}

namespace {

constexpr int kBlockGroups = 64;     // groups of 8 columns decoded together: 512 columns
constexpr int kGroupsPerScale = 32;  // 256-column activation groups (q8_activations.h)
// Software prefetch distance of the code stream. Every loop prefetches in address order, one
// cache line per 64 bytes it reads, so that the stream it asks for is the one it reads
// (a whole model's codes come from DRAM).
constexpr int kPrefetchBytes = 4096;

// GF(2) affine maps (vgf2p8affineqb: output bit i = parity(matrix byte 7 − i AND input) XOR
// imm bit i). Signs from an index's low byte: bit i < 7 ← input bit 1 + i; bit 7 ← parity of
// bits 7..1.
constexpr uint64_t kSignMap = 0x02040810204080FEull;
// Coordinate 7's second parity term from the low bit plane: bit 7 ← parity of all 8 bits.
constexpr uint64_t kParityMap = 0x00000000000000FFull;
// The shift bit (index bit 0) copied to all 8 bits: one byte per group that is 0xFF when
// the group's shift is +¼.
constexpr uint64_t kShiftMap = 0x0101010101010101ull;

// Every stage's weight byte is u = 4·point + 16, unsigned for vpdpbusd; the +16 adds
// 16·Σ xq, a per-token constant, to every dot product.
constexpr int kWeightOffset = 16;

// How a stage's weight bytes come out of its bit planes (one byte per group, bit i for
// coordinate i). Step weights are vgf2p8affineqb(1 << i, M, imm) where qword j of M holds
// group j's plane bytes: M byte 7 − k feeds bit k of u.
//   E8P: u = 1 + 2d + 4(low ⊕ s) + 8(high ⊕ s) + 16(1 ⊕ s), with s the sign, d the shift
//        and 2a = 1 + 2(low + 2·high) the pattern:
//          positive: 4·point = m + δ = 1 + 2d + 4·low + 8·high          (m = |4a|)
//          negative: 4·point = −m + δ = −(1 + 2(1−d) + 4·low + 8·high)  (two's complement)
//        planes S, HS = high ⊕ s, LS = low ⊕ s, D at matrix bytes 3, 4, 5, 6; imm 0x11.
//   one-bit E8 (4·point ∈ {0, ±1, ±2, ±4}, index = table entry): u ∈ [12, 20], its bits 0..3
//        are planes read from a table, bit 4 is ¬bit 3: planes B3, B3, B2, B1, B0 at matrix
//        bytes 3..7; imm 0x10.
enum class Stage { kE8P, kOneBit };
template <Stage kStage>
constexpr int kWeightImm = kStage == Stage::kE8P ? 0x11 : 0x10;

// Registers shared by every block of a row.
struct Consts {
  __m512i low[4], high[4];  // E8P patterns' bit-plane tables, 64 entries per register
  const uint8_t* one_bit;   // the one-bit codebook's four 256-byte plane tables
  __m512i even, odd;        // byte positions 0, 2, 4, … and 1, 3, 5, … of 128 bytes
  __m512i sign_map, parity_map, shift_map;
  __m512i bit_of_lane;        // byte 8g + i: 1 << i, selects coordinate i of a plane byte
  __m512i gather[2][4];       // per stage kind and step of a half block: where its matrix bytes are
  __mmask64 matrix_bytes[2];  // the nonzero bytes of those matrices (E8P 3..6, one-bit 3..7)
  __m512i pair_gather[2];     // row pairs: per 8-group step of a 16-group quad (RowPairWeights)
  __m512i low_nibbles;
  __m512i quarter[4];  // byte 4k: 16q + k (StoreStep)
};

// Byte vectors of Consts, built at compile time (MakeConsts runs once per task of rows).
struct ByteConstants {
  alignas(64) uint8_t even[64], odd[64], bit_of_lane[64], gather[2][4][64], pair_gather[2][64], quarter[4][64];
};

constexpr ByteConstants MakeByteConstants() {
  // Plane p of a half block's 32 groups sits at byte 32p of its 128-byte pair (DecodedBlock).
  constexpr int kE8PPlane[8] = {-1, -1, -1, 0, 1, 2, 3, -1};   // S, HS, LS, D
  constexpr int kOneBitPlane[8] = {-1, -1, -1, 0, 0, 1, 2, 3};  // B3, B3, B2, B1, B0
  ByteConstants b{};
  for (int i = 0; i < 64; ++i) {
    b.even[i] = uint8_t(2 * i), b.odd[i] = uint8_t(2 * i + 1), b.bit_of_lane[i] = uint8_t(1 << (i % 8));
    for (int q = 0; q < 4; ++q) b.quarter[q][i] = uint8_t(i % 4 == 0 ? 16 * q + i / 4 : 0);
    const int group = i / 8, byte = i % 8;
    for (int step = 0; step < 4; ++step) {
      b.gather[0][step][i] = uint8_t(std::max(0, 32 * kE8PPlane[byte] + 8 * step + group));
      b.gather[1][step][i] = uint8_t(std::max(0, 32 * kOneBitPlane[byte] + 8 * step + group));
    }
    // Row pairs: qword j of step s holds group 8s + j's planes S, HS, LS, D of row 2 (bytes
    // 0..3) and row 1 (bytes 4..7); a quad holds plane p of row k at byte 32p + 16k + group.
    for (int step = 0; step < 2; ++step)
      b.pair_gather[step][i] = uint8_t(32 * (byte % 4) + (byte < 4 ? 16 : 0) + 8 * step + group);
  }
  return b;
}
constexpr ByteConstants kByteConstants = MakeByteConstants();

QUIP_AVX512_TARGET Consts MakeConsts(const simd::E8PTables& t) {
  Consts c;
  for (int i = 0; i < 4; ++i) {
    c.low[i] = _mm512_load_si512(t.low_bits + 64 * i);
    c.high[i] = _mm512_load_si512(t.high_bits + 64 * i);
  }
  c.one_bit = &t.one_bit_planes[0][0];
  const ByteConstants& b = kByteConstants;
  c.even = _mm512_load_si512(b.even);
  c.odd = _mm512_load_si512(b.odd);
  c.bit_of_lane = _mm512_load_si512(b.bit_of_lane);
  for (int k = 0; k < 2; ++k)
    for (int step = 0; step < 4; ++step) c.gather[k][step] = _mm512_load_si512(b.gather[k][step]);
  for (int step = 0; step < 2; ++step) c.pair_gather[step] = _mm512_load_si512(b.pair_gather[step]);
  for (int q = 0; q < 4; ++q) c.quarter[q] = _mm512_load_si512(b.quarter[q]);
  c.low_nibbles = _mm512_set1_epi8(0x0F);
  c.matrix_bytes[0] = _cvtu64_mask64(0x7878787878787878ull);
  c.matrix_bytes[1] = _cvtu64_mask64(0xF8F8F8F8F8F8F8F8ull);
  c.sign_map = _mm512_set1_epi64(int64_t(kSignMap));
  c.parity_map = _mm512_set1_epi64(int64_t(kParityMap));
  c.shift_map = _mm512_set1_epi64(int64_t(kShiftMap));
  return c;
}

// Bytes [0, n) of a mask over 64 lanes.
inline __mmask64 FirstLanes(int n) { return n <= 0 ? 0 : n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1; }

// 256-entry byte table lookup of 64 indices: entries 0..127 from tables 0, 1, 128..255 from 2, 3.
QUIP_AVX512_TARGET inline __m512i Lookup256(const __m512i* table, __m512i idx, __mmask64 upper) {
  return _mm512_mask_blend_epi8(upper, _mm512_permutex2var_epi8(table[0], idx, table[1]),
                                _mm512_permutex2var_epi8(table[2], idx, table[3]));
}

// A block of up to 64 groups as four bit planes P0..P3 (one byte per group). Per half block
// h (32 groups, one activation group) first[h] = P0 | P1 and second[h] = P2 | P3, 32 bytes
// each.
struct DecodedBlock {
  __m512i first[2], second[2];
};

QUIP_AVX512_TARGET inline DecodedBlock Pair(__m512i p0, __m512i p1, __m512i p2, __m512i p3) {
  DecodedBlock d;
  d.first[0] = _mm512_inserti64x4(p0, _mm512_castsi512_si256(p1), 1);
  d.second[0] = _mm512_inserti64x4(p2, _mm512_castsi512_si256(p3), 1);
  d.first[1] = _mm512_shuffle_i64x2(p0, p1, 0xEE);
  d.second[1] = _mm512_shuffle_i64x2(p2, p3, 0xEE);
  return d;
}

// The E8P planes S, HS, LS, D (one byte per group) of 64 groups' u16 indices, whose bytes
// are in c0, c1 (group g at bytes 2g, 2g + 1 of the 128).
struct E8PPlanes {
  __m512i s, hs, ls, d;
};
QUIP_AVX512_TARGET inline E8PPlanes DecodeE8PPlanes(__m512i c0, __m512i c1, const Consts& c) {
  const __m512i lo = _mm512_permutex2var_epi8(c0, c.even, c1);  // index bits 7..0
  const __m512i hi = _mm512_permutex2var_epi8(c0, c.odd, c1);   // pattern entry
  const __mmask64 upper = _mm512_movepi8_mask(hi);
  const __m512i low = Lookup256(c.low, hi, upper);
  const __m512i high = Lookup256(c.high, hi, upper);
  const __m512i sign = _mm512_xor_si512(_mm512_gf2p8affine_epi64_epi8(lo, c.sign_map, 0),
                                        _mm512_gf2p8affine_epi64_epi8(low, c.parity_map, 0));
  const __m512i shift = _mm512_gf2p8affine_epi64_epi8(lo, c.shift_map, 0);
  return {sign, _mm512_xor_si512(high, sign), _mm512_xor_si512(low, sign), shift};
}

// Groups [0, n) of a stage's indices, n ≤ 64 (indices past n read as 0: they meet zero
// activations, or are not stored).
template <Stage kStage>
QUIP_AVX512_TARGET inline DecodedBlock DecodeBlock(const uint8_t* indices, int n, const Consts& c) {
  if constexpr (kStage == Stage::kE8P) {  // u16 indices
    const E8PPlanes p = DecodeE8PPlanes(_mm512_maskz_loadu_epi8(FirstLanes(2 * n), indices),
                                        _mm512_maskz_loadu_epi8(FirstLanes(2 * n - 64), indices + 64), c);
    return Pair(p.s, p.hs, p.ls, p.d);
  } else {  // byte indices into the one-bit codebook's plane tables
    const __m512i idx = _mm512_maskz_loadu_epi8(FirstLanes(n), indices);
    const __mmask64 upper = _mm512_movepi8_mask(idx);
    __m512i plane[4];
    for (int p = 0; p < 4; ++p) {
      const __m512i table[4] = {_mm512_load_si512(c.one_bit + 256 * p), _mm512_load_si512(c.one_bit + 256 * p + 64),
                                _mm512_load_si512(c.one_bit + 256 * p + 128),
                                _mm512_load_si512(c.one_bit + 256 * p + 192)};
      plane[p] = Lookup256(table, idx, upper);
    }
    return Pair(plane[0], plane[1], plane[2], plane[3]);
  }
}

// u = 4·point + 16 for the 64 weights of step t (0..3) of half block h.
template <Stage kStage>
QUIP_AVX512_TARGET inline __m512i Weights(const DecodedBlock& d, int h, int t, const Consts& c) {
  constexpr int k = kStage == Stage::kE8P ? 0 : 1;
  const __m512i matrices =
      _mm512_maskz_permutex2var_epi8(c.matrix_bytes[k], d.first[h], c.gather[k][t], d.second[h]);
  return _mm512_gf2p8affine_epi64_epi8(c.bit_of_lane, matrices, kWeightImm<kStage>);
}

// Bytes of a stage's indices per group.
template <Stage kStage>
constexpr int kIndexBytes = kStage == Stage::kE8P ? 2 : 1;

// Σ_c P[c]·xq[c] over one row of a stage's indices (P = 4·point), scaled per activation
// group, as 16 partial sums (plus 16·Σ xq): the stage's dot product with x, in units of ¼.
// Inlined, so that a row's stages add up in registers and are reduced once.
template <Stage kStage>
QUIP_AVX512_TARGET __attribute__((always_inline)) inline __m512 StageDot(const uint8_t* codes, int groups, const Consts& c, const simd::E8PActivations& a) {
  __m512 acc_f = _mm512_setzero_ps();
  const __m512i zero = _mm512_setzero_si512();
  DecodedBlock next = DecodeBlock<kStage>(codes, std::min(kBlockGroups, groups), c);
  for (int g0 = 0; g0 < groups; g0 += kBlockGroups) {
    const int n = std::min(kBlockGroups, groups - g0);
    const DecodedBlock d = next;  // the next block is decoded before this one's products (RowPairDot)
    // A 3-bit row's stages are read one after the other, so rows stream in address order.
    const char* ahead = reinterpret_cast<const char*>(codes) + kPrefetchBytes + kIndexBytes<kStage> * g0;
    _mm_prefetch(ahead, _MM_HINT_T0);
    if constexpr (kIndexBytes<kStage> == 2) _mm_prefetch(ahead + 64, _MM_HINT_T0);
    if (g0 + kBlockGroups < groups)
      next = DecodeBlock<kStage>(codes + kIndexBytes<kStage> * (g0 + kBlockGroups),
                                 std::min(kBlockGroups, groups - g0 - kBlockGroups), c);
    const int8_t* x = a.xq + 8 * g0;
    if (n == kBlockGroups) {
      // Four independent accumulators (activation group × even/odd step): vpdpbusd's
      // latency, not its throughput, would bound one chain of eight.
      __m512i acc0 = _mm512_dpbusd_epi32(zero, Weights<kStage>(d, 0, 0, c), _mm512_loadu_si512(x));
      __m512i acc1 = _mm512_dpbusd_epi32(zero, Weights<kStage>(d, 0, 1, c), _mm512_loadu_si512(x + 64));
      __m512i acc2 = _mm512_dpbusd_epi32(zero, Weights<kStage>(d, 1, 0, c), _mm512_loadu_si512(x + 256));
      __m512i acc3 = _mm512_dpbusd_epi32(zero, Weights<kStage>(d, 1, 1, c), _mm512_loadu_si512(x + 320));
      acc0 = _mm512_dpbusd_epi32(acc0, Weights<kStage>(d, 0, 2, c), _mm512_loadu_si512(x + 128));
      acc1 = _mm512_dpbusd_epi32(acc1, Weights<kStage>(d, 0, 3, c), _mm512_loadu_si512(x + 192));
      acc2 = _mm512_dpbusd_epi32(acc2, Weights<kStage>(d, 1, 2, c), _mm512_loadu_si512(x + 384));
      acc3 = _mm512_dpbusd_epi32(acc3, Weights<kStage>(d, 1, 3, c), _mm512_loadu_si512(x + 448));
      const float* scale = a.group_scale + g0 / kGroupsPerScale;
      acc_f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc0, acc1)), _mm512_set1_ps(scale[0]), acc_f);
      acc_f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc2, acc3)), _mm512_set1_ps(scale[1]), acc_f);
      continue;
    }
    for (int h = 0; 32 * h < n; ++h) {  // the last, partial block
      __m512i acc;
      if (n - 32 * h >= 32) {  // a whole activation group (e.g. rows of 256 columns)
        const int8_t* xh = x + 256 * h;
        __m512i acc1 = _mm512_dpbusd_epi32(zero, Weights<kStage>(d, h, 1, c), _mm512_loadu_si512(xh + 64));
        acc = _mm512_dpbusd_epi32(zero, Weights<kStage>(d, h, 0, c), _mm512_loadu_si512(xh));
        acc1 = _mm512_dpbusd_epi32(acc1, Weights<kStage>(d, h, 3, c), _mm512_loadu_si512(xh + 192));
        acc = _mm512_dpbusd_epi32(acc, Weights<kStage>(d, h, 2, c), _mm512_loadu_si512(xh + 128));
        acc = _mm512_add_epi32(acc, acc1);
      } else {  // masked activation loads
        acc = zero;
        for (int t = 0; t < 4 && 32 * h + 8 * t < n; ++t) {
          const int step_groups = n - 32 * h - 8 * t;
          const __m512i xs = _mm512_maskz_loadu_epi8(FirstLanes(8 * step_groups), x + 256 * h + 64 * t);
          acc = _mm512_dpbusd_epi32(acc, Weights<kStage>(d, h, t, c), xs);
        }
      }
      acc_f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(a.group_scale[g0 / kGroupsPerScale + h]), acc_f);
    }
  }
  return acc_f;
}

// Two E8P index rows that meet the same activations, 2·groups bytes apart — a 4-bit row's
// two stages (RVQ), or 2-bit rows r and r + 1 — in one pass (the header's "Pairs"). Per
// activation group (32 groups) both rows' indices are decoded together, row 1 in bytes
// 0..31 of each plane and row 2 in bytes 32..63, and each 8-group step becomes one vector
// of nibble pairs: byte 8j + i holds v₁ + 16·v₂, v = d + 2·LS + 4·HS + 8·¬S of coordinate i
// of group j in row 1 and 2 (u = 4·point + 16 = 1 + 2v), from one byte permute (both rows'
// planes into qword j) and one affine map (the 8×8 bit transpose). Two vpdpbusd with the
// same activations give Σ v₁·xq (the low nibbles) and Σ (v₁ + 16·v₂)·xq: 64 weights of both
// rows per permute, affine, and, two vpdpbusd, where the rows apart take two of each
// (Weights()).
struct RowPairQuad {  // planes of 16 groups, both rows: S₁ S₂ HS₁ HS₂ | LS₁ LS₂ D₁ D₂, 16 bytes each
  __m512i sh, ld;
};

QUIP_AVX512_TARGET inline __m512i RowPairWeights(const RowPairQuad& q, int step, const Consts& c) {
  const __m512i matrices = _mm512_permutex2var_epi8(q.sh, c.pair_gather[step], q.ld);
  return _mm512_gf2p8affine_epi64_epi8(c.bit_of_lane, matrices, 0x88);  // 0x88: ¬S of both nibbles
}

// One activation group (n ≤ 32 groups) of both rows as two quads: row 1's indices at
// `indices`, row 2's 2·groups bytes later.
struct RowPairGroup {
  RowPairQuad quad[2];
};
QUIP_AVX512_TARGET inline RowPairGroup DecodeRowPairGroup(const uint8_t* indices, int groups, int n, const Consts& c) {
  const __mmask64 valid = FirstLanes(2 * n);
  const E8PPlanes p = DecodeE8PPlanes(_mm512_maskz_loadu_epi8(valid, indices),
                                      _mm512_maskz_loadu_epi8(valid, indices + 2 * groups), c);
  return {{{_mm512_shuffle_i64x2(p.s, p.hs, 0x88), _mm512_shuffle_i64x2(p.ls, p.d, 0x88)},
           {_mm512_shuffle_i64x2(p.s, p.hs, 0xDD), _mm512_shuffle_i64x2(p.ls, p.d, 0xDD)}}};
}

// (Σ_g a_g Σ_{c∈g} v₁·xq, Σ_g a_g Σ_{c∈g} (v₁ + 16·v₂)·xq) of one row as 16 partial sums
// each. `next` holds the row's first activation group, decoded; on return it holds the
// first of next_row (when not null). Each activation group's successor is decoded before
// its products are issued, across rows too, so that the long decode chain overlaps the
// products in the out-of-order window (~15 % faster than decoding in order).
QUIP_AVX512_TARGET __attribute__((always_inline)) inline void RowPairDot(const uint8_t* row, const uint8_t* next_row,
                                                                    int groups, const Consts& c,
                                                                    const simd::E8PActivations& a, RowPairGroup& next,
                                                                    __m512& low_dot, __m512& full_dot) {
  const __m512i zero = _mm512_setzero_si512();
  low_dot = _mm512_setzero_ps();
  full_dot = _mm512_setzero_ps();
  for (int g0 = 0; g0 < groups; g0 += kGroupsPerScale) {
    const int n = std::min(kGroupsPerScale, groups - g0);  // < 32: the row's last, partial group
    const RowPairGroup cur = next;
    // The pair's 4·groups bytes as one stream: 128 bytes per activation group, in address
    // order. Prefetching each row's two streams instead (2·groups bytes apart) left the
    // synthetic model's products, streamed, 5–10 % slower than in cache on one thread.
    const char* ahead = reinterpret_cast<const char*>(row) + kPrefetchBytes + 4 * g0;
    _mm_prefetch(ahead, _MM_HINT_T0);
    _mm_prefetch(ahead + 64, _MM_HINT_T0);
    if (g0 + kGroupsPerScale < groups) {
      const int next_n = std::min(kGroupsPerScale, groups - g0 - kGroupsPerScale);
      next = DecodeRowPairGroup(row + 2 * (g0 + kGroupsPerScale), groups, next_n, c);
    } else if (next_row) {
      next = DecodeRowPairGroup(next_row, groups, std::min(kGroupsPerScale, groups), c);
    }
    const int8_t* x = a.xq + 8 * g0;
    __m512i low = zero, full = zero;
    for (int t = 0; t < 4 && 8 * t < n; ++t) {
      const __m512i xs = n == kGroupsPerScale ? _mm512_loadu_si512(x + 64 * t)
                                              : _mm512_maskz_loadu_epi8(FirstLanes(8 * (n - 8 * t)), x + 64 * t);
      const __m512i w = RowPairWeights(cur.quad[t / 2], t % 2, c);
      low = _mm512_dpbusd_epi32(low, _mm512_and_si512(w, c.low_nibbles), xs);
      full = _mm512_dpbusd_epi32(full, w, xs);
    }
    const __m512 scale = _mm512_set1_ps(a.group_scale[g0 / kGroupsPerScale]);
    low_dot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(low), scale, low_dot);
    full_dot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(full), scale, full_dot);
  }
}

// Rows as fp32 (prompt tiles). A step's 64 weight bytes become floats by table: quarter q
// (16 columns) is permuted so that byte 16q + k sits in the low byte of 32-bit lane k, and
// vpermi2ps looks its low 5 bits up in 32 floats: one permute and one lookup per 16 values
// and stage instead of extract, sign extension, conversion and multiply (rows ~1.15x faster
// at 4 bits, where both stages also share one transposition, ~1.2x at 2 bits; 3 bits even).
// Stage 1's table holds float(P)·(¼·scale₁) and stage 2's float(P), multiplied in by the
// FMA: the same products and sums as converting P, so the tiles are bit-identical.
struct FloatTable {
  __m512 lo, hi;  // entries 0..15, 16..31
};

QUIP_AVX512_TARGET inline __m512 Lookup(const FloatTable& t, __m512i idx) {
  return _mm512_permutex2var_ps(t.lo, idx, t.hi);
}

// P of the entry that indexes it: e − 16 for weight bytes u = P + 16 (5 ≤ u ≤ 27), and
// 2·(e & 15) − 15 for nibbles v = (u − 1)/2 with a free bit 4 (RowPairWeights).
enum class TableIndex { kWeightByte, kNibble };
template <TableIndex kIndex>
QUIP_AVX512_TARGET inline FloatTable PointTable(float scale) {
  const __m512 e = _mm512_cvtepi32_ps(
      _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
  const __m512 s = _mm512_set1_ps(scale);
  if constexpr (kIndex == TableIndex::kWeightByte) {
    return {_mm512_mul_ps(_mm512_sub_ps(e, _mm512_set1_ps(16.0f)), s), _mm512_mul_ps(e, s)};
  } else {
    const __m512 p = _mm512_mul_ps(_mm512_fmsub_ps(e, _mm512_set1_ps(2.0f), _mm512_set1_ps(15.0f)), s);
    return {p, p};
  }
}

// Writes s·t1[i1] (+ t2[i2]·s₂) of a step's 64 weights (columns [0, valid)) to out.
QUIP_AVX512_TARGET inline void StoreStep(__m512i i1, const FloatTable& t1, const __m512i* i2, const FloatTable& t2,
                                         __m512 s2, int valid, const Consts& c, float* out) {
  for (int q = 0; q < 4 && 16 * q < valid; ++q) {
    __m512 v = Lookup(t1, _mm512_permutexvar_epi8(c.quarter[q], i1));
    if (i2) v = _mm512_fmadd_ps(Lookup(t2, _mm512_permutexvar_epi8(c.quarter[q], *i2)), s2, v);
    const int n = valid - 16 * q;
    _mm512_mask_storeu_ps(out + 16 * q, n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1), v);
  }
}

// out[c] = ¼·(scale₁·P₁[c] + scale₂·P₂[c]) over one row (8·groups values), one stage or a
// 3-bit row's two. kSecond: the second stage's kind (ignored when `two_stages` is false).
template <Stage kSecond>
QUIP_AVX512_TARGET void RowDecode(const uint8_t* row, int groups, float scale1, float scale2, bool two_stages,
                                  const Consts& c, float* out) {
  const FloatTable t1 = PointTable<TableIndex::kWeightByte>(0.25f * scale1);
  const FloatTable t2 = PointTable<TableIndex::kWeightByte>(1.0f);
  const __m512 s2 = _mm512_set1_ps(0.25f * scale2);
  const uint8_t* second = row + 2 * groups;
  for (int g0 = 0; g0 < groups; g0 += kBlockGroups) {
    const int n = std::min(kBlockGroups, groups - g0);
    const DecodedBlock d1 = DecodeBlock<Stage::kE8P>(row + 2 * g0, n, c);
    DecodedBlock d2{};
    if (two_stages) d2 = DecodeBlock<kSecond>(second + kIndexBytes<kSecond> * g0, n, c);
    for (int h = 0; 32 * h < n; ++h) {
      for (int t = 0; t < 4 && 32 * h + 8 * t < n; ++t) {
        const __m512i u1 = Weights<Stage::kE8P>(d1, h, t, c);
        const __m512i u2 = two_stages ? Weights<kSecond>(d2, h, t, c) : u1;
        const int first = 32 * h + 8 * t;
        StoreStep(u1, t1, two_stages ? &u2 : nullptr, t2, s2, 8 * std::min(8, n - first), c, out + 8 * (g0 + first));
      }
    }
  }
}

// A 4-bit row: both E8P stages decoded together as nibble pairs (RowPairWeights), the low
// nibbles looked up in stage 1's table and the high ones (shifted down, bit 4 free) in stage 2's.
QUIP_AVX512_TARGET void RowPairDecode(const uint8_t* row, int groups, float scale1, float scale2, const Consts& c,
                                      float* out) {
  const FloatTable t1 = PointTable<TableIndex::kNibble>(0.25f * scale1);
  const FloatTable t2 = PointTable<TableIndex::kNibble>(1.0f);
  const __m512 s2 = _mm512_set1_ps(0.25f * scale2);
  for (int g0 = 0; g0 < groups; g0 += kGroupsPerScale) {
    const int n = std::min(kGroupsPerScale, groups - g0);
    const RowPairGroup d = DecodeRowPairGroup(row + 2 * g0, groups, n, c);
    for (int t = 0; t < 4 && 8 * t < n; ++t) {
      const __m512i w = RowPairWeights(d.quad[t / 2], t % 2, c);
      const __m512i high = _mm512_srli_epi16(w, 4);
      StoreStep(w, t1, &high, t2, s2, 8 * std::min(8, n - 8 * t), c, out + 8 * (g0 + 8 * t));
    }
  }
}

}  // namespace

QUIP_AVX512_TARGET void E8PRows(const E8PMatrixView& w, const simd::E8PTables& t, const simd::E8PActivations& a,
                                int r0, int r1, float* y) {
  const Consts c = MakeConsts(t);
  const int G = w.groups;
  const float s1 = w.stage_scale[0], s2 = w.bits > 2 ? w.stage_scale[1] : 0.0f;
  // Pairs of E8P index rows 2·G bytes apart multiplied with the same activations (RowPairDot):
  // at 4 bits a row's two stages, at 2 bits rows r and r + 1. A pair's dot products in
  // units of ¼ are Σ_g a_g Σ (u − 16)·xq = 2·V − 15·Σ a_g·xq with V₁ = low_dot and
  // V₂ = (full_dot − low_dot)/16.
  const int rows_per_pair = w.bits == 4 ? 1 : 2;
  const int pairs_end = w.bits == 4 ? r1 : w.bits == 2 ? r0 + ((r1 - r0) & ~1) : r0;
  if (pairs_end > r0) {
    const float offset_sum = 15.0f * a.scaled_sum;
    const __m512 second_weight = _mm512_set1_ps(1.0f / 16);
    RowPairGroup next = DecodeRowPairGroup(w.codes + int64_t(r0) * w.row_bytes, G, std::min(kGroupsPerScale, G), c);
    for (int r = r0; r < pairs_end; r += rows_per_pair) {
      const uint8_t* row = w.codes + int64_t(r) * w.row_bytes;
      const uint8_t* next_pair = r + rows_per_pair < pairs_end ? row + rows_per_pair * w.row_bytes : nullptr;
      __m512 low_dot, full_dot;
      RowPairDot(row, next_pair, G, c, a, next, low_dot, full_dot);
      const float first = 2.0f * _mm512_reduce_add_ps(low_dot) - offset_sum;
      const __m512 second_dot = _mm512_mul_ps(second_weight, _mm512_sub_ps(full_dot, low_dot));
      const float second = 2.0f * _mm512_reduce_add_ps(second_dot) - offset_sum;
      if (w.bits == 4) {
        y[r] = 0.25f * (s1 * first + s2 * second);
      } else {
        y[r] = 0.25f * s1 * first;
        y[r + 1] = 0.25f * s1 * second;
      }
    }
  }
  // 3 bits, and a task's last row at 2 bits: each stage on its own (Weights()).
  // What the +16 of every weight byte added: 16·Σ xq in each stage.
  const float offset_sum = float(kWeightOffset) * a.scaled_sum * (s1 + s2);
  for (int r = pairs_end; r < r1; ++r) {
    const uint8_t* row = w.codes + int64_t(r) * w.row_bytes;
    __m512 dot = _mm512_mul_ps(_mm512_set1_ps(s1), StageDot<Stage::kE8P>(row, G, c, a));
    if (w.bits == 3)
      dot = _mm512_fmadd_ps(_mm512_set1_ps(s2), StageDot<Stage::kOneBit>(row + 2 * G, G, c, a), dot);
    y[r] = 0.25f * (_mm512_reduce_add_ps(dot) - offset_sum);
  }
}

QUIP_AVX512_TARGET void E8PDecodeRow(const E8PMatrixView& w, const simd::E8PTables& t, int r, float* out) {
  const Consts c = MakeConsts(t);
  const uint8_t* row = w.codes + int64_t(r) * w.row_bytes;
  if (w.bits == 4) {
    RowPairDecode(row, w.groups, w.stage_scale[0], w.stage_scale[1], c, out);
  } else if (w.bits == 3) {
    RowDecode<Stage::kOneBit>(row, w.groups, w.stage_scale[0], w.stage_scale[1], true, c, out);
  } else {
    RowDecode<Stage::kE8P>(row, w.groups, w.stage_scale[0], 0.0f, false, c, out);
  }
}

#else  // not x86-64 with GCC/Clang

bool Supported() { return false; }

void E8PRows(const E8PMatrixView&, const simd::E8PTables&, const simd::E8PActivations&, int, int, float*) {
  QUIP_ASSERT(!"the AVX-512 E8P kernel is not compiled for this CPU");
}

void E8PDecodeRow(const E8PMatrixView&, const simd::E8PTables&, int, float*) {
  QUIP_ASSERT(!"the AVX-512 E8P kernel is not compiled for this CPU");
}

#endif

}  // namespace quip::kernels::avx512
