// AVX-512 E8P kernel (e8p_matvec_avx512.h explains the decoding). Compiled with function
// target attributes, so the rest of the build keeps its own -march; called only when
// Supported() says the CPU has the instructions.
#include "kernels/e8p_matvec_avx512.h"

#include <algorithm>
#include <cstdlib>

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

constexpr int kBlockGroups = 64;       // groups of 8 columns decoded together: 512 columns
constexpr int kGroupsPerScale = 32;    // 256-column activation groups (q8_activations.h)
constexpr int kStepsPerBlock = 8;      // 64 columns (8 groups) per multiply-add step

// GF(2) affine maps (vgf2p8affineqb: output bit i = parity(matrix byte 7 − i AND input) XOR
// imm bit i). Signs from an index's low byte: bit i < 7 ← input bit 1 + i; bit 7 ← parity of
// bits 7..1.
constexpr uint64_t kSignMap = 0x02040810204080FEull;
// Coordinate 7's second parity term from the low bit plane: bit 7 ← parity of all 8 bits.
constexpr uint64_t kParityMap = 0x00000000000000FFull;
// The shift bit (index bit 0) copied to all 8 bits: one byte per group that is 0xFF when
// the group's shift is +¼.
constexpr uint64_t kShiftMap = 0x0101010101010101ull;
// The weight byte u = 4·point + 16 ∈ [5, 27] as bits, s = sign, d = shift, c = 2·low + high:
//   positive: 4·point = m + δ = 1 + 2d + 4·low + 8·high       (m = |4a| = 2 + 4c)
//   negative: 4·point = −m + δ = −(1 + 2(1−d) + 4·low + 8·high), two's complement
// so u = 1 + 2d + 4(low ⊕ s) + 8(high ⊕ s) + 16(1 ⊕ s): affine in the bits, constant 0x11.
// The +16 is what makes u unsigned for vpdpbusd; it adds 16·Σ xq, a per-token constant.
constexpr int kWeightConstant = 0x11;
constexpr int kWeightOffset = 16;

// Registers shared by every block of a stage.
struct Consts {
  __m512i low[4], high[4];  // the 256-byte bit-plane tables, 64 entries per register
  __m512i even, odd;        // byte positions 0, 2, 4, … and 1, 3, 5, … of 128 bytes
  __m512i sign_map, parity_map, shift_map;
  __m512i bit_of_lane;  // byte 8g + i: 1 << i, selects coordinate i of a plane byte
  __m512i gather[4];    // per step of a half block: where its weight matrices' bytes are
  __mmask64 matrix_bytes;  // bytes 3..6 of every qword: the nonzero rows of those matrices
};

QUIP_AVX512_TARGET Consts MakeConsts(const simd::E8PTables& t) {
  Consts c;
  for (int i = 0; i < 4; ++i) {
    c.low[i] = _mm512_load_si512(t.low_bits + 64 * i);
    c.high[i] = _mm512_load_si512(t.high_bits + 64 * i);
  }
  alignas(64) uint8_t even[64], odd[64], bit[64], gather[4][64];
  for (int i = 0; i < 64; ++i) {
    even[i] = uint8_t(2 * i), odd[i] = uint8_t(2 * i + 1), bit[i] = uint8_t(1 << (i % 8));
    // Step t of a half block, group 8t + j: the matrix of qword j has byte 3 = S, 4 = HS,
    // 5 = LS, 6 = D (planes of DecodeBlock, at 0, 32, 64, 96 in the 128-byte pair).
    const int j = i / 8, byte = i % 8;
    for (int step = 0; step < 4; ++step)
      gather[step][i] = byte >= 3 && byte <= 6 ? uint8_t(32 * (byte - 3) + 8 * step + j) : 0;
  }
  c.even = _mm512_load_si512(even);
  c.odd = _mm512_load_si512(odd);
  c.bit_of_lane = _mm512_load_si512(bit);
  for (int step = 0; step < 4; ++step) c.gather[step] = _mm512_load_si512(gather[step]);
  c.matrix_bytes = _cvtu64_mask64(0x7878787878787878ull);
  c.sign_map = _mm512_set1_epi64(int64_t(kSignMap));
  c.parity_map = _mm512_set1_epi64(int64_t(kParityMap));
  c.shift_map = _mm512_set1_epi64(int64_t(kShiftMap));
  return c;
}

// Bytes [0, n) of a mask over 64 lanes.
inline __mmask64 FirstLanes(int n) { return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1; }

// 256-entry byte table lookup of 64 indices: entries 0..127 from tables 0, 1, 128..255 from 2, 3.
QUIP_AVX512_TARGET inline __m512i Lookup256(const __m512i* table, __m512i idx, __mmask64 upper) {
  return _mm512_mask_blend_epi8(upper, _mm512_permutex2var_epi8(table[0], idx, table[1]),
                                _mm512_permutex2var_epi8(table[2], idx, table[3]));
}

// A block of up to 64 groups as bit planes, one byte per group (bit i: coordinate i):
// S sign, LS = low ⊕ S, HS = high ⊕ S, D shift (0 or 0xFF). Per half block h (32 groups,
// one activation group) the pair first[h] = S | HS, second[h] = LS | D, 32 bytes each.
struct DecodedBlock {
  __m512i first[2], second[2];
};

// `n` groups of u16 indices (n ≤ 64; zero indices past n, which meet zero activations).
QUIP_AVX512_TARGET inline DecodedBlock DecodeBlock(const uint8_t* indices, int n, const Consts& c) {
  __m512i c0, c1;
  if (n == kBlockGroups) {
    c0 = _mm512_loadu_si512(indices);
    c1 = _mm512_loadu_si512(indices + 64);
  } else {
    c0 = _mm512_maskz_loadu_epi8(FirstLanes(2 * n), indices);
    c1 = _mm512_maskz_loadu_epi8(FirstLanes(2 * n - 64), indices + 64);
  }
  const __m512i lo = _mm512_permutex2var_epi8(c0, c.even, c1);  // index bits 7..0
  const __m512i hi = _mm512_permutex2var_epi8(c0, c.odd, c1);   // pattern entry
  const __mmask64 upper = _mm512_movepi8_mask(hi);
  const __m512i low = Lookup256(c.low, hi, upper);
  const __m512i high = Lookup256(c.high, hi, upper);
  const __m512i sign = _mm512_xor_si512(_mm512_gf2p8affine_epi64_epi8(lo, c.sign_map, 0),
                                        _mm512_gf2p8affine_epi64_epi8(low, c.parity_map, 0));
  const __m512i shift = _mm512_gf2p8affine_epi64_epi8(lo, c.shift_map, 0);
  const __m512i hs = _mm512_xor_si512(high, sign), ls = _mm512_xor_si512(low, sign);
  DecodedBlock d;
  d.first[0] = _mm512_inserti64x4(sign, _mm512_castsi512_si256(hs), 1);
  d.second[0] = _mm512_inserti64x4(ls, _mm512_castsi512_si256(shift), 1);
  d.first[1] = _mm512_shuffle_i64x2(sign, hs, 0xEE);
  d.second[1] = _mm512_shuffle_i64x2(ls, shift, 0xEE);
  return d;
}

// u = 4·point + 16 for the 64 weights of step t (0..3) of half block h.
QUIP_AVX512_TARGET inline __m512i Weights(const DecodedBlock& d, int h, int t, const Consts& c) {
  const __m512i matrices = _mm512_maskz_permutex2var_epi8(c.matrix_bytes, d.first[h], c.gather[t], d.second[h]);
  return _mm512_gf2p8affine_epi64_epi8(c.bit_of_lane, matrices, kWeightConstant);
}

// Σ_c P[c]·xq[c] over one row of E8P indices (P = 4·point), scaled per activation group:
// the stage's dot product with x, in units of ¼.
QUIP_AVX512_TARGET float E8PStageDot(const uint8_t* codes, int groups, const Consts& c, const simd::E8PActivations& a) {
  __m512 acc_f = _mm512_setzero_ps();
  const __m512i zero = _mm512_setzero_si512();
  for (int g0 = 0; g0 < groups; g0 += kBlockGroups) {
    const int n = std::min(kBlockGroups, groups - g0);
    const DecodedBlock d = DecodeBlock(codes + 2 * g0, n, c);
    const int8_t* x = a.xq + 8 * g0;
    if (n == kBlockGroups) {
      // Four independent accumulators (activation group × even/odd step): vpdpbusd's
      // latency, not its throughput, would bound one chain of eight.
      __m512i acc0 = _mm512_dpbusd_epi32(zero, Weights(d, 0, 0, c), _mm512_loadu_si512(x));
      __m512i acc1 = _mm512_dpbusd_epi32(zero, Weights(d, 0, 1, c), _mm512_loadu_si512(x + 64));
      __m512i acc2 = _mm512_dpbusd_epi32(zero, Weights(d, 1, 0, c), _mm512_loadu_si512(x + 256));
      __m512i acc3 = _mm512_dpbusd_epi32(zero, Weights(d, 1, 1, c), _mm512_loadu_si512(x + 320));
      acc0 = _mm512_dpbusd_epi32(acc0, Weights(d, 0, 2, c), _mm512_loadu_si512(x + 128));
      acc1 = _mm512_dpbusd_epi32(acc1, Weights(d, 0, 3, c), _mm512_loadu_si512(x + 192));
      acc2 = _mm512_dpbusd_epi32(acc2, Weights(d, 1, 2, c), _mm512_loadu_si512(x + 384));
      acc3 = _mm512_dpbusd_epi32(acc3, Weights(d, 1, 3, c), _mm512_loadu_si512(x + 448));
      const float* scale = a.group_scale + g0 / kGroupsPerScale;
      acc_f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc0, acc1)), _mm512_set1_ps(scale[0]), acc_f);
      acc_f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc2, acc3)), _mm512_set1_ps(scale[1]), acc_f);
      continue;
    }
    for (int h = 0; 32 * h < n; ++h) {  // the last, partial block: masked activation loads
      __m512i acc = zero;
      for (int t = 0; t < 4 && 32 * h + 8 * t < n; ++t) {
        const int step_groups = n - 32 * h - 8 * t;
        const __m512i xs = _mm512_maskz_loadu_epi8(FirstLanes(8 * step_groups), x + 256 * h + 64 * t);
        acc = _mm512_dpbusd_epi32(acc, Weights(d, h, t, c), xs);
      }
      acc_f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(a.group_scale[g0 / kGroupsPerScale + h]), acc_f);
    }
  }
  return _mm512_reduce_add_ps(acc_f) - float(kWeightOffset) * a.scaled_sum;
}

// The one-bit E8 stage (3 bits): 8 table entries per step, gathered; |P| and signs from them.
QUIP_AVX512_TARGET float OneBitStageDot(const uint8_t* codes, int groups, const simd::E8PTables& t,
                                        const simd::E8PActivations& a) {
  __m512 acc_f = _mm512_setzero_ps();
  const __m512i zero = _mm512_setzero_si512();
  for (int gh = 0; gh < groups; gh += kGroupsPerScale) {
    const int g1 = std::min(groups, gh + kGroupsPerScale);
    __m512i acc = zero;
    for (int g = gh; g < g1; g += 8) {
      const int n = std::min(8, g1 - g);
      const __m256i idx = _mm256_cvtepu8_epi32(_mm_maskz_loadu_epi8(__mmask16((1u << n) - 1), codes + g));
      const __m512i p = _mm512_mask_i32gather_epi64(zero, __mmask8((1u << n) - 1), idx, t.one_bit, 8);
      const __m512i x = _mm512_maskz_loadu_epi8(FirstLanes(8 * n), a.xq + 8 * g);
      const __m512i signed_x = _mm512_mask_sub_epi8(x, _mm512_movepi8_mask(p), zero, x);
      acc = _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(p), signed_x);
    }
    acc_f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(a.group_scale[gh / kGroupsPerScale]), acc_f);
  }
  return _mm512_reduce_add_ps(acc_f);
}

}  // namespace

QUIP_AVX512_TARGET void E8PRows(const E8PMatrixView& w, const simd::E8PTables& t, const simd::E8PActivations& a,
                                int r0, int r1, float* y) {
  const Consts c = MakeConsts(t);
  const int G = w.groups;
  for (int r = r0; r < r1; ++r) {
    const uint8_t* row = w.codes + int64_t(r) * w.row_bytes;
    float dot = w.stage_scale[0] * E8PStageDot(row, G, c, a);
    if (w.bits == 3) dot += w.stage_scale[1] * OneBitStageDot(row + 2 * G, G, t, a);
    if (w.bits == 4) dot += w.stage_scale[1] * E8PStageDot(row + 2 * G, G, c, a);
    y[r] = 0.25f * dot;
  }
}

#else  // not x86-64 with GCC/Clang

bool Supported() { return false; }

void E8PRows(const E8PMatrixView&, const simd::E8PTables&, const simd::E8PActivations&, int, int, float*) {
  QUIP_ASSERT(!"the AVX-512 E8P kernel is not compiled for this CPU");
}

#endif

}  // namespace quip::kernels::avx512
