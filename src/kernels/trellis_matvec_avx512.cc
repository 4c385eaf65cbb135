// AVX-512 trellis kernels (trellis_matvec_avx512.h explains them). Compiled with function
// target attributes, so the rest of the build keeps its own -march; called only where
// e8p_matvec_avx512.h's Supported() says the CPU has the instructions.
#include "kernels/trellis_matvec_avx512.h"

#include <array>
#include <cstring>

#include "core/error.h"
#include "format/trellis_tiles.h"
#include "kernels/unroll.h"

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12's AVX-512 headers start some intrinsics from _mm512_undefined_*, which its own
// uninitialized-use analysis then flags in every caller.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#define QUIP_TRELLIS_AVX512 1
#define QUIP_AVX512_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx512vnni,bmi2")))
#endif

namespace quip::kernels::avx512 {

#if QUIP_TRELLIS_AVX512

namespace {

using trellis::kTileSide;
using trellis::kTileWeights;

// Where vector v's windows are (trellis_matvec_avx512.h), `lanes` (2 or 4) states per qword:
// index[v] picks, for qword k, the stream bytes c .. c + 7 (c: the byte of the qword's first
// state's first bit) most significant first, as memory bytes (stream byte j is memory byte
// j ^ 3 in little-endian words); shift[v] puts each state's low and high window byte into its
// lane's bytes 0 and 1.
struct WindowTable {
  alignas(64) uint8_t index[16][64];
  alignas(64) uint8_t shift[16][64];
};

WindowTable MakeWindowTable(int bits, int values_per_state, int lanes) {
  WindowTable t{};
  const int step_bits = bits * values_per_state, states = kTileWeights / values_per_state;
  const int tile_bytes = 32 * bits, lane_bytes = 8 / lanes;
  for (int v = 0; v < states / (8 * lanes); ++v)
    for (int k = 0; k < 8; ++k) {
      const int first = (8 * lanes * v + lanes * k) * step_bits, c = first / 8;
      for (int i = 0; i < 8; ++i) t.index[v][8 * k + i] = uint8_t(((c + 7 - i) % tile_bytes) ^ 3);
      for (int d = 0; d < lanes; ++d) {
        // The window's bit 15 is stream bit p = qword bit 63 − (p − 8c); ≤ 7 + 3·8 + 16 bits in.
        const int offset = first + d * step_bits - 8 * c;
        t.shift[v][8 * k + lane_bytes * d] = uint8_t(48 - offset);
        t.shift[v][8 * k + lane_bytes * d + 1] = uint8_t(56 - offset);
      }
    }
  return t;
}

// 32-bit lanes (16 states a vector) for bits 2..4 and V = 1, 2.
const WindowTable& Windows(int bits, int values_per_state) {
  static const auto tables = [] {
    std::array<WindowTable, 6> t;
    for (int k = 2; k <= 4; ++k)
      for (int v = 1; v <= 2; ++v) t[2 * (k - 2) + v - 1] = MakeWindowTable(k, v, 2);
    return t;
  }();
  return tables[2 * (bits - 2) + values_per_state - 1];
}

// 16-bit lanes (32 states a vector, V = 1) for bits 2..4: HASH6.
const WindowTable& Windows16(int bits) {
  static const auto tables = [] {
    std::array<WindowTable, 3> t;
    for (int k = 2; k <= 4; ++k) t[k - 2] = MakeWindowTable(k, 1, 4);
    return t;
  }();
  return tables[bits - 2];
}

// HASH6's table as unsigned bytes t + 128 (vpdpbusd's unsigned operand), and the odd byte
// positions of two registers (the high bytes of 64 16-bit lanes).
struct Hash6Bytes {
  alignas(64) uint8_t table[64];
  alignas(64) uint8_t odd[64];
};
const Hash6Bytes& Hash6Constants() {
  static const Hash6Bytes c = [] {
    Hash6Bytes b{};
    for (int i = 0; i < 64; ++i) b.table[i] = uint8_t(trellis::kHash6Table[i] + 128), b.odd[i] = uint8_t(2 * i + 1);
    return b;
  }();
  return c;
}

// XOR7's two 128-byte tables (trellis_codes.h), each for one vpermi2b: the hash m(b) of a
// state's bits 9..15 and the values as unsigned bytes t + 128; and the even byte positions
// of two registers (the low bytes of 64 16-bit lanes).
struct Xor7Bytes {
  alignas(64) uint8_t mix[128];
  alignas(64) uint8_t table[128];
  alignas(64) uint8_t even[64];
};
const Xor7Bytes& Xor7Constants() {
  static const Xor7Bytes c = [] {
    Xor7Bytes b{};
    for (int i = 0; i < 128; ++i) b.mix[i] = uint8_t(trellis::Xor7Mix(i)), b.table[i] = uint8_t(trellis::kXor7Table[i] + 128);
    for (int i = 0; i < 64; ++i) b.even[i] = uint8_t(2 * i);
    return b;
  }();
  return c;
}

// XOR7's values as DecodeXor7 computes them, t / 47, for the prompt tiles.
const float* Xor7Floats() {
  alignas(64) static const auto f = [] {
    std::array<float, 128> v;
    for (int i = 0; i < 128; ++i) v[i] = float(trellis::kXor7Table[i]) / float(trellis::kXor7Divisor);
    return v;
  }();
  return f.data();
}

// XOR7's value bytes t + 128 of 64 states from their window bits 0..7 (`low`) and 9..16
// (`high`), one byte each: two 128-entry lookups on the low 7 bits (bit 7 of each is ignored).
struct Xor7Lookup {
  __m512i mix0, mix1, table0, table1;
};
QUIP_AVX512_TARGET inline Xor7Lookup LoadXor7Lookup() {
  const Xor7Bytes& c = Xor7Constants();
  return {_mm512_load_si512(c.mix), _mm512_load_si512(c.mix + 64), _mm512_load_si512(c.table),
          _mm512_load_si512(c.table + 64)};
}
QUIP_AVX512_TARGET inline __m512i Xor7Values(const Xor7Lookup& l, __m512i low, __m512i high) {
  const __m512i index = _mm512_xor_si512(low, _mm512_permutex2var_epi8(l.mix0, high, l.mix1));
  return _mm512_permutex2var_epi8(l.table0, index, l.table1);
}

// A tile's 32·K bytes in two registers (the second zero past the tile: nothing read beyond it).
struct Tile {
  __m512i lo, hi;
};

QUIP_AVX512_TARGET inline Tile LoadTile(const uint8_t* p, int bits) {
  const __mmask64 rest = bits == 2 ? 0 : bits == 3 ? 0xFFFFFFFFull : ~0ull;
  return {_mm512_loadu_si512(p), _mm512_maskz_loadu_epi8(rest, p + 64)};
}

// States 16v .. 16v + 15 of the tile, one per 32-bit lane.
QUIP_AVX512_TARGET inline __m512i States(const Tile& t, const WindowTable& wt, int v) {
  const __m512i bytes = _mm512_permutex2var_epi8(t.lo, _mm512_load_si512(wt.index[v]), t.hi);
  return _mm512_maskz_multishift_epi64_epi8(0x3333333333333333ull, _mm512_load_si512(wt.shift[v]), bytes);
}

// States 32v .. 32v + 31 of the tile, one per 16-bit lane (a Windows16 table).
QUIP_AVX512_TARGET inline __m512i States16(const Tile& t, const WindowTable& wt, int v) {
  const __m512i bytes = _mm512_permutex2var_epi8(t.lo, _mm512_load_si512(wt.index[v]), t.hi);
  return _mm512_multishift_epi64_epi8(_mm512_load_si512(wt.shift[v]), bytes);
}

// HASH6's table indices of 64 states, two vectors of 16-bit lanes: the high bytes of
// h = 0x9E37·s mod 2^16 packed (vpermt2b), then shifted right by 2 as 16-bit lanes, which puts
// each byte's bits 2..7 (h's bits 10..15) into its bits 0..5, all vpermb reads.
QUIP_AVX512_TARGET inline __m512i Hash6Indices(__m512i s0, __m512i s1, __m512i odd) {
  const __m512i hash = _mm512_set1_epi16(int16_t(0x9E37));
  const __m512i high = _mm512_permutex2var_epi8(_mm512_mullo_epi16(s0, hash), odd, _mm512_mullo_epi16(s1, hash));
  return _mm512_srli_epi16(high, 2);
}

// 1MAD's x = a·s + b, whose byte sum is the code.
QUIP_AVX512_TARGET inline __m512i Mad(__m512i s) {
  return _mm512_add_epi32(_mm512_mullo_epi32(s, _mm512_set1_epi32(34038481)), _mm512_set1_epi32(76625530));
}

// 3INST's value: the two halves of (89226354·s + 64248484) & 0x8FFF8FFF ^ 0x3B603B60 as
// floats, high + low as Decode3Inst adds them.
QUIP_AVX512_TARGET inline __m512 Value3Inst(__m512i s) {
  const __m512i x = _mm512_add_epi32(_mm512_mullo_epi32(s, _mm512_set1_epi32(89226354)), _mm512_set1_epi32(64248484));
  // (x & mask) ^ pattern: truth table 0x6A over (x, mask, pattern).
  const __m512i bits = _mm512_ternarylogic_epi32(x, _mm512_set1_epi32(int(0x8FFF8FFFu)), _mm512_set1_epi32(0x3B603B60), 0x6A);
  const __m512 low = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(bits));
  const __m512 high = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(bits, 16)));
  return _mm512_add_ps(high, low);
}

// HYB's pairs for 16 states: weights 0..15 (states 0..7) in `first`, 16..31 in `second`.
QUIP_AVX512_TARGET inline void ValuesHyb(__m512i s, const float* table, __m512* first, __m512* second) {
  const __m512i h = _mm512_mullo_epi32(_mm512_add_epi32(s, _mm512_set1_epi32(1)), s);
  const __m512i row = _mm512_and_si512(_mm512_srli_epi32(h, 15 - trellis::kHybTableBits),
                                       _mm512_set1_epi32((1 << trellis::kHybTableBits) - 1));
  const unsigned negative = _mm512_test_epi32_mask(h, _mm512_set1_epi32(0x8000));
  const auto* pairs = reinterpret_cast<const long long*>(table);
  const __m512i p0 = _mm512_i32gather_epi64(_mm512_castsi512_si256(row), pairs, 8);
  const __m512i p1 = _mm512_i32gather_epi64(_mm512_extracti64x4_epi64(row, 1), pairs, 8);
  // A state's sign flips its first value: the even float lane of its pair.
  const __m512i sign = _mm512_set1_epi32(int(0x80000000u));
  *first = _mm512_castsi512_ps(_mm512_mask_xor_epi32(p0, __mmask16(_pdep_u32(negative & 0xFF, 0x5555)), p0, sign));
  *second = _mm512_castsi512_ps(_mm512_mask_xor_epi32(p1, __mmask16(_pdep_u32(negative >> 8, 0x5555)), p1, sign));
}

QUIP_AVX512_TARGET void RowBlocks1Mad(const TrellisMatrixView& w, const TrellisActivations& a, int b0, int b1,
                                      float* y) {
  const WindowTable& wt = Windows(w.bits, 1);
  const int tiles = w.cols / kTileSide, tile_bytes = 32 * w.bits;
  constexpr int kTilesPerGroup = 256 / kTileSide;  // one activation group (q8_activations.h)
  // y = scale · Σ_c (sum_c − 510)/147.8005 · x_c.
  const float outer = w.scale / 147.800537109375f;
  for (int b = b0; b < b1; ++b) {
    const uint8_t* block = w.codes + size_t(b) * tiles * tile_bytes;
    __m512 sum[kTileSide];
    for (auto& s : sum) s = _mm512_setzero_ps();
    for (int j0 = 0, g = 0; j0 < tiles; j0 += kTilesPerGroup, ++g) {
      // Σ over the group of (sum − 510)·xq per lane: ≤ 16 · 510 · 127 in magnitude, exact.
      const __m512i start = _mm512_loadu_si512(a.start + 16 * g);
      __m512i acc[kTileSide];
      for (auto& v : acc) v = start;
      for (int j = j0; j < std::min(tiles, j0 + kTilesPerGroup); ++j) {
        const Tile t = LoadTile(block + size_t(j) * tile_bytes, w.bits);
        const __m512i xq4 = _mm512_loadu_si512(a.xq4 + 64 * j);
        for (int r = 0; r < kTileSide; ++r) acc[r] = _mm512_dpbusd_epi32(acc[r], Mad(States(t, wt, r)), xq4);
      }
      const __m512 scale = _mm512_set1_ps(a.group_scale[g]);
      for (int r = 0; r < kTileSide; ++r) sum[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r]), scale, sum[r]);
    }
    for (int r = 0; r < kTileSide; ++r) y[b * kTileSide + r] = outer * _mm512_reduce_add_ps(sum[r]);
  }
}

// At K = 2 and 4 (V = 1) a tile is whole qwords of the stream, and the windows come from the
// tile itself instead of a byte permute per vector. Source A (the tile) holds stream bits
// [64k, 64k + 64) in qword k, source B (the tile one word on, valignd) bits [64k + 32, 64k + 96),
// each as its two words in memory order: stream bit 64k + i at qword bit (95 − i) mod 64, which
// is the MSB-first qword rotated by 32 bits, and vpmultishiftqb reads its 8 bits modulo 64, so
// the shifts absorb the rotation (+32) instead of a vprolq per source; every window starts at most 48 bits into
// one of them, and vpmultishiftqb cuts `lanes` windows (4 in 16-bit lanes, 2 in 32-bit ones)
// from each qword. With s = 64/K states per qword, vector v's lane (k, d) is the state
// 128·h + s·k + lanes·m + d (h = 0 at K = 2; v = h·(s/lanes) + m), from A when the group's last
// window starts ≤ 48 bits in, else from B. So lane k is tile row 2k or 2k + 1 (K = 2) or
// k or 8 + k (K = 4), for the first and second half of the vectors, and its column depends
// only on m and d: one activation pattern per m, the same in every qword.
constexpr int SplitStatesPerQword(int bits) { return 64 / bits; }
// Vector v's source: 0 A_lo, 1 A_hi, 2 B_lo, 3 B_hi (a constant, so the sources stay in registers).
constexpr int SplitSource(int bits, int lanes, int v) {
  const int per_half = SplitStatesPerQword(bits) / lanes, m = v % per_half;
  return ((lanes * m + lanes - 1) * bits <= 48 ? 0 : 2) + v / per_half;
}

struct SplitTable {
  alignas(64) uint8_t shift[16][64];
};

SplitTable MakeSplitTable(int bits, int lanes) {
  SplitTable t{};
  const int per_half = SplitStatesPerQword(bits) / lanes, lane_bytes = 8 / lanes;
  for (int v = 0; v < 256 / (8 * lanes); ++v) {
    const int m = v % per_half, base = SplitSource(bits, lanes, v) < 2 ? 0 : 32;
    for (int k = 0; k < 8; ++k)
      for (int d = 0; d < lanes; ++d) {
        const int offset = bits * (lanes * m + d) - base;
        t.shift[v][8 * k + lane_bytes * d] = uint8_t((80 - offset) & 63);
        t.shift[v][8 * k + lane_bytes * d + 1] = uint8_t((88 - offset) & 63);
      }
  }
  return t;
}

template <int kBits>
QUIP_AVX512_TARGET inline void SplitSources(const Tile& t, __m512i* src) {
  src[0] = t.lo;
  if constexpr (kBits == 2) {
    src[1] = src[3] = src[0];  // unused
    src[2] = _mm512_alignr_epi32(t.lo, t.lo, 1);
  } else {
    src[1] = t.hi;
    src[2] = _mm512_alignr_epi32(t.hi, t.lo, 1);
    src[3] = _mm512_alignr_epi32(t.lo, t.hi, 1);
  }
}

// Tile row of lane k in the first (second) half of a split tile's vectors.
constexpr int SplitRow(int bits, int half, int k) { return bits == 2 ? 2 * k + half : 8 * half + k; }

// The loop the int8 codes' row-block kernels share (all but 1MAD at K = 3): per row block of
// 16 rows, 256-column activation groups (q8_activations.h) whose four integer accumulators
// stay exact, each group's sums taken to float with its activation scale a_g. The kernel
// supplies the group's starting accumulators (Start), one tile's products (AddTile) and the
// reduction of the four float sums to the block's 16 outputs (Store).
template <class Kernel>
QUIP_AVX512_TARGET void RowBlocksInGroups(const Kernel& kernel, const TrellisMatrixView& w,
                                          const TrellisActivations& a, int b0, int b1, float* y) {
  const int tiles = w.cols / kTileSide, tile_bytes = 32 * w.bits;
  constexpr int kTilesPerGroup = 256 / kTileSide;
  for (int b = b0; b < b1; ++b) {
    const uint8_t* block = w.codes + size_t(b) * tiles * tile_bytes;
    __m512 sum[4];
    for (auto& s : sum) s = _mm512_setzero_ps();
    for (int j0 = 0, g = 0; j0 < tiles; j0 += kTilesPerGroup, ++g) {
      __m512i acc[4];
      kernel.Start(a, g, acc);
      for (int j = j0; j < std::min(tiles, j0 + kTilesPerGroup); ++j)
        kernel.AddTile(LoadTile(block + size_t(j) * tile_bytes, w.bits), a, j, acc);
      const __m512 scale = _mm512_set1_ps(a.group_scale[g]);
      for (int q = 0; q < 4; ++q) sum[q] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[q]), scale, sum[q]);
    }
    kernel.Store(sum, a, y + b * kTileSide);
  }
}

QUIP_AVX512_TARGET inline void ZeroStart(__m512i* acc) {
  for (int q = 0; q < 4; ++q) acc[q] = _mm512_setzero_si512();
}

// Store for the split kernels whose sums 0, 1 hold the first row of each qword's pair
// (SplitRow half 0) and 2, 3 the second, a row in two adjacent dword lanes:
// y = outer · (row sum − offset).
template <int kBits>
QUIP_AVX512_TARGET inline void StoreSplitPairs(const __m512* sum, float outer, float offset, float* y) {
  alignas(64) float lanes[2][16];
  _mm512_store_ps(lanes[0], _mm512_add_ps(sum[0], sum[1]));
  _mm512_store_ps(lanes[1], _mm512_add_ps(sum[2], sum[3]));
  for (int half = 0; half < 2; ++half)
    for (int k = 0; k < 8; ++k)
      y[SplitRow(kBits, half, k)] = outer * ((lanes[half][2 * k] + lanes[half][2 * k + 1]) - offset);
}

// 1MAD at K = 2, 4: 16 vectors of 16 states in 32-bit lanes; vector v's lanes (k, d) are
// columns 2m + d (m = v % 8), their activations one broadcast qword of xq4.
template <int kBits>
struct Split1Mad {
  static const SplitTable& Shifts() {
    static const SplitTable t = MakeSplitTable(kBits, 2);
    return t;
  }
  const SplitTable& sp = Shifts();
  // y = scale · Σ_c (sum_c − 510)/147.8005 · x_c.
  float outer;
  explicit Split1Mad(const TrellisMatrixView& w) : outer(w.scale / 147.800537109375f) {}

  // −510·Σxq of the group, once per row: in lane (k, 0) of the first accumulator per half.
  QUIP_AVX512_TARGET void Start(const TrellisActivations& a, int g, __m512i* acc) const {
    int start = 0;
    for (int l = 0; l < 16; ++l) start += a.start[16 * g + l];
    const __m512i first = _mm512_set1_epi64(uint32_t(start));
    acc[0] = acc[2] = first;
    acc[1] = acc[3] = _mm512_setzero_si512();
  }
  QUIP_AVX512_TARGET void AddTile(const Tile& t, const TrellisActivations& a, int j, __m512i* acc) const {
    __m512i src[4];
    SplitSources<kBits>(t, src);
    const int8_t* x = a.xq4 + 64 * size_t(j);
    Unroll<16>([&](auto v) {
      const __m512i s = _mm512_maskz_multishift_epi64_epi8(0x3333333333333333ull, _mm512_load_si512(sp.shift[v]),
                                                           src[SplitSource(kBits, 2, v)]);
      int64_t pattern;
      std::memcpy(&pattern, x + 8 * (v % 8), 8);
      acc[2 * (v / 8) + v % 2] = _mm512_dpbusd_epi32(acc[2 * (v / 8) + v % 2], Mad(s), _mm512_set1_epi64(pattern));
    });
  }
  QUIP_AVX512_TARGET void Store(const __m512* sum, const TrellisActivations&, float* y) const {
    StoreSplitPairs<kBits>(sum, outer, 0.0f, y);
  }
};

// HASH6 at K = 2, 4: two vectors of 32 states in 16-bit lanes per packed 64 bytes; in a pair,
// lane k of the first is columns 0..3 (8..11), of the second 4..7 (12..15).
template <int kBits>
struct SplitHash6 {
  static const SplitTable& Shifts() {
    static const SplitTable t = MakeSplitTable(kBits, 4);
    return t;
  }
  const SplitTable& sp = Shifts();
  __m512i table, odd;
  float outer;
  QUIP_AVX512_TARGET explicit SplitHash6(const TrellisMatrixView& w)
      : table(_mm512_load_si512(Hash6Constants().table)),
        odd(_mm512_load_si512(Hash6Constants().odd)),
        outer(w.scale / float(trellis::kHash6Divisor)) {}

  QUIP_AVX512_TARGET void Start(const TrellisActivations&, int, __m512i* acc) const { ZeroStart(acc); }
  QUIP_AVX512_TARGET void AddTile(const Tile& t, const TrellisActivations& a, int j, __m512i* acc) const {
    __m512i src[4];
    SplitSources<kBits>(t, src);
    // Columns 0..3 | 4..7 and 8..11 | 12..15, each repeated over the 8 rows' lanes.
    const __m512i x01 = _mm512_loadu_si512(a.xq_split + 128 * size_t(j));
    const __m512i x23 = _mm512_loadu_si512(a.xq_split + 128 * size_t(j) + 64);
    Unroll<4>([&](auto q) {
      const __m512i s0 = _mm512_multishift_epi64_epi8(_mm512_load_si512(sp.shift[2 * q]), src[SplitSource(kBits, 4, 2 * q)]);
      const __m512i s1 =
          _mm512_multishift_epi64_epi8(_mm512_load_si512(sp.shift[2 * q + 1]), src[SplitSource(kBits, 4, 2 * q + 1)]);
      const __m512i weights = _mm512_permutexvar_epi8(Hash6Indices(s0, s1, odd), table);
      acc[q] = _mm512_dpbusd_epi32(acc[q], weights, q % 2 ? x23 : x01);
    });
  }
  // Lanes k and 8 + k of pairs 0 and 1 are one row, of pairs 2 and 3 another.
  QUIP_AVX512_TARGET void Store(const __m512* sum, const TrellisActivations& a, float* y) const {
    const __m512 first = _mm512_add_ps(sum[0], sum[1]), second = _mm512_add_ps(sum[2], sum[3]);
    alignas(32) float rows0[8], rows1[8];
    _mm256_store_ps(rows0, _mm256_add_ps(_mm512_castps512_ps256(first), _mm512_extractf32x8_ps(first, 1)));
    _mm256_store_ps(rows1, _mm256_add_ps(_mm512_castps512_ps256(second), _mm512_extractf32x8_ps(second, 1)));
    for (int k = 0; k < 8; ++k) {
      y[SplitRow(kBits, 0, k)] = outer * (rows0[k] - a.offset_sum);
      y[SplitRow(kBits, 1, k)] = outer * (rows1[k] - a.offset_sum);
    }
  }
};

// HASH6 and XOR7 at K = 3: two vectors of 32 states in 16-bit lanes (tile rows 4u .. 4u + 3)
// made into 64 value bytes by the code (Values below), multiplied with the tile's 16 int8
// activations, repeated in each 128-bit lane: dword lane l of acc[u] sums row 4u + l/4 over
// columns 4(l % 4) .. + 3. Σ over a group of value byte·xq per lane: ≤ 16·4·255·128 < 2^21, exact.
template <class Values>
struct States16Kernel {
  const WindowTable& wt;
  const Values values;
  float outer;
  QUIP_AVX512_TARGET explicit States16Kernel(const TrellisMatrixView& w)
      : wt(Windows16(w.bits)), outer(w.scale / float(Values::kDivisor)) {}

  QUIP_AVX512_TARGET void Start(const TrellisActivations&, int, __m512i* acc) const { ZeroStart(acc); }
  QUIP_AVX512_TARGET void AddTile(const Tile& t, const TrellisActivations& a, int j, __m512i* acc) const {
    const __m512i xq = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a.xq + 16 * j)));
    for (int u = 0; u < 4; ++u)
      acc[u] = _mm512_dpbusd_epi32(acc[u], values(States16(t, wt, 2 * u), States16(t, wt, 2 * u + 1)), xq);
  }
  QUIP_AVX512_TARGET void Store(const __m512* sum, const TrellisActivations& a, float* y) const {
    for (int u = 0; u < 4; ++u) {
      alignas(64) float lanes[16];
      _mm512_store_ps(lanes, sum[u]);
      for (int k = 0; k < 4; ++k)
        y[4 * u + k] = outer * ((lanes[4 * k] + lanes[4 * k + 1]) + (lanes[4 * k + 2] + lanes[4 * k + 3]) - a.offset_sum);
    }
  }
};

// HASH6's values of 64 states: their packed hash indices looked up (vpermb).
struct Hash6Values16 {
  static constexpr int kDivisor = trellis::kHash6Divisor;
  __m512i table, odd;
  QUIP_AVX512_TARGET Hash6Values16()
      : table(_mm512_load_si512(Hash6Constants().table)), odd(_mm512_load_si512(Hash6Constants().odd)) {}
  QUIP_AVX512_TARGET __m512i operator()(__m512i s0, __m512i s1) const {
    return _mm512_permutexvar_epi8(Hash6Indices(s0, s1, odd), table);
  }
};

// XOR7's values of 64 states: their low bytes and their high bytes packed (vpermt2b), the
// high ones shifted right by 1 (bits 9..16), then XOR7's lookup.
struct Xor7Values16 {
  static constexpr int kDivisor = trellis::kXor7Divisor;
  Xor7Lookup lookup;
  __m512i even, odd;
  QUIP_AVX512_TARGET Xor7Values16()
      : lookup(LoadXor7Lookup()),
        even(_mm512_load_si512(Xor7Constants().even)),
        odd(_mm512_load_si512(Hash6Constants().odd)) {}
  QUIP_AVX512_TARGET __m512i operator()(__m512i s0, __m512i s1) const {
    const __m512i low = _mm512_permutex2var_epi8(s0, even, s1);
    const __m512i high = _mm512_srli_epi16(_mm512_permutex2var_epi8(s0, odd, s1), 1);
    return Xor7Values(lookup, low, high);
  }
};

// XOR7 at K = 2, 4: 4 vectors of 64 states, one byte each (8 per qword), cut straight from
// the split sources twice (window bits 0..7 and 9..16); vector v's byte d of qword k is
// column 8·(m % 2) + d (m = v % (8/K)), so its activations are one broadcast qword of xq.
struct Xor7SplitTable {
  alignas(64) uint8_t low[4][64];
  alignas(64) uint8_t high[4][64];
};

Xor7SplitTable MakeXor7SplitTable(int bits) {
  Xor7SplitTable t{};
  const int per_half = SplitStatesPerQword(bits) / 8;
  for (int v = 0; v < 4; ++v) {
    const int m = v % per_half, base = SplitSource(bits, 8, v) < 2 ? 0 : 32;
    for (int k = 0; k < 8; ++k)
      for (int d = 0; d < 8; ++d) {
        // The split sources' shifts (+32: MakeSplitTable). Bit 16 of a window at the qword's
        // start is another bit of the qword: index bit 7, which vpermi2b does not read.
        const int offset = bits * (8 * m + d) - base;
        t.low[v][8 * k + d] = uint8_t((80 - offset) & 63);
        t.high[v][8 * k + d] = uint8_t((89 - offset) & 63);
      }
  }
  return t;
}

// Σ over a group of (t + 128)·xq per lane: ≤ 16·4·253·127 < 2^21, exact. Vectors 0, 1 are the
// first row of each qword's pair, 2, 3 the second; a row's two dword lanes are its columns
// 0..3 + 8..11 and 4..7 + 12..15.
template <int kBits>
struct SplitXor7 {
  static const Xor7SplitTable& Shifts() {
    static const Xor7SplitTable t = MakeXor7SplitTable(kBits);
    return t;
  }
  static constexpr int kPerHalf = SplitStatesPerQword(kBits) / 8;
  const Xor7SplitTable& sp = Shifts();
  const Xor7Lookup lookup;
  float outer;
  QUIP_AVX512_TARGET explicit SplitXor7(const TrellisMatrixView& w)
      : lookup(LoadXor7Lookup()), outer(w.scale / float(trellis::kXor7Divisor)) {}

  QUIP_AVX512_TARGET void Start(const TrellisActivations&, int, __m512i* acc) const { ZeroStart(acc); }
  QUIP_AVX512_TARGET void AddTile(const Tile& t, const TrellisActivations& a, int j, __m512i* acc) const {
    __m512i src[4];
    SplitSources<kBits>(t, src);
    const int8_t* x = a.xq + 16 * size_t(j);
    Unroll<4>([&](auto v) {
      const __m512i from = src[SplitSource(kBits, 8, v)];
      const __m512i low = _mm512_multishift_epi64_epi8(_mm512_load_si512(sp.low[v]), from);
      const __m512i high = _mm512_multishift_epi64_epi8(_mm512_load_si512(sp.high[v]), from);
      int64_t pattern;
      std::memcpy(&pattern, x + 8 * ((v % kPerHalf) % 2), 8);
      acc[v] = _mm512_dpbusd_epi32(acc[v], Xor7Values(lookup, low, high), _mm512_set1_epi64(pattern));
    });
  }
  QUIP_AVX512_TARGET void Store(const __m512* sum, const TrellisActivations& a, float* y) const {
    StoreSplitPairs<kBits>(sum, outer, a.offset_sum, y);
  }
};

// One instance of kernel K for matrix w, run over row blocks [b0, b1).
template <class K>
QUIP_AVX512_TARGET void RunInGroups(const TrellisMatrixView& w, const TrellisActivations& a, int b0, int b1, float* y) {
  const K kernel(w);
  RowBlocksInGroups(kernel, w, a, b0, b1, y);
}
// fp32 products: 3INST and HYB, each tile row times the tile's 16 activations.
template <trellis::Code kCode>
QUIP_AVX512_TARGET void RowBlocksFloat(const TrellisMatrixView& w, const float* x, int b0, int b1, float* y) {
  constexpr int kValues = trellis::ValuesPerState(kCode);
  const WindowTable& wt = Windows(w.bits, kValues);
  const int tiles = w.cols / kTileSide, tile_bytes = 32 * w.bits;
  for (int b = b0; b < b1; ++b) {
    const uint8_t* block = w.codes + size_t(b) * tiles * tile_bytes;
    __m512 acc[kTileSide];
    for (auto& v : acc) v = _mm512_setzero_ps();
    for (int j = 0; j < tiles; ++j) {
      const Tile t = LoadTile(block + size_t(j) * tile_bytes, w.bits);
      const __m512 xv = _mm512_loadu_ps(x + kTileSide * j);
      if constexpr (kCode == trellis::Code::k3Inst) {
        for (int r = 0; r < kTileSide; ++r) acc[r] = _mm512_fmadd_ps(Value3Inst(States(t, wt, r)), xv, acc[r]);
      } else {
        for (int v = 0; v < kTileSide / 2; ++v) {  // 16 states: rows 2v and 2v + 1
          __m512 first, second;
          ValuesHyb(States(t, wt, v), w.hyb_table, &first, &second);
          acc[2 * v] = _mm512_fmadd_ps(first, xv, acc[2 * v]);
          acc[2 * v + 1] = _mm512_fmadd_ps(second, xv, acc[2 * v + 1]);
        }
      }
    }
    for (int r = 0; r < kTileSide; ++r) y[b * kTileSide + r] = w.scale * _mm512_reduce_add_ps(acc[r]);
  }
}

}  // namespace

void TrellisRowBlocks(const TrellisMatrixView& w, const TrellisActivations& a, int b0, int b1, float* y) {
  switch (w.code) {
    case trellis::Code::k1Mad:
      if (w.bits == 2) return RunInGroups<Split1Mad<2>>(w, a, b0, b1, y);
      if (w.bits == 4) return RunInGroups<Split1Mad<4>>(w, a, b0, b1, y);
      return RowBlocks1Mad(w, a, b0, b1, y);
    case trellis::Code::k3Inst: return RowBlocksFloat<trellis::Code::k3Inst>(w, a.x, b0, b1, y);
    case trellis::Code::kHyb: return RowBlocksFloat<trellis::Code::kHyb>(w, a.x, b0, b1, y);
    case trellis::Code::kHash6:
      if (w.bits == 2) return RunInGroups<SplitHash6<2>>(w, a, b0, b1, y);
      if (w.bits == 4) return RunInGroups<SplitHash6<4>>(w, a, b0, b1, y);
      return RunInGroups<States16Kernel<Hash6Values16>>(w, a, b0, b1, y);
    case trellis::Code::kXor7:
      if (w.bits == 2) return RunInGroups<SplitXor7<2>>(w, a, b0, b1, y);
      if (w.bits == 4) return RunInGroups<SplitXor7<4>>(w, a, b0, b1, y);
      return RunInGroups<States16Kernel<Xor7Values16>>(w, a, b0, b1, y);
  }
}

QUIP_AVX512_TARGET void DecodeTrellisTile(const TrellisMatrixView& w, const uint8_t* tile, float* weights) {
  const Tile t = LoadTile(tile, w.bits);
  const __m512 scale = _mm512_set1_ps(w.scale);
  switch (w.code) {
    case trellis::Code::k1Mad: {
      const WindowTable& wt = Windows(w.bits, 1);
      for (int v = 0; v < 16; ++v) {
        const __m512i sum = _mm512_dpbusd_epi32(_mm512_set1_epi32(-510), Mad(States(t, wt, v)), _mm512_set1_epi8(1));
        const __m512 value = _mm512_div_ps(_mm512_cvtepi32_ps(sum), _mm512_set1_ps(147.800537109375f));
        _mm512_storeu_ps(weights + 16 * v, _mm512_mul_ps(scale, value));
      }
      break;
    }
    case trellis::Code::k3Inst: {
      const WindowTable& wt = Windows(w.bits, 1);
      for (int v = 0; v < 16; ++v) _mm512_storeu_ps(weights + 16 * v, _mm512_mul_ps(scale, Value3Inst(States(t, wt, v))));
      break;
    }
    case trellis::Code::kHash6: {
      // The index's table byte in each lane's low byte (vpermb), sign-extended, / 48 as DecodeHash6.
      const WindowTable& wt = Windows(w.bits, 1);
      const __m512i table = _mm512_load_si512(Hash6Constants().table);
      for (int v = 0; v < 16; ++v) {
        const __m512i s = States(t, wt, v);
        const __m512i index = _mm512_srli_epi32(
            _mm512_and_si512(_mm512_mullo_epi32(s, _mm512_set1_epi32(0x9E37)), _mm512_set1_epi32(0xFFFF)), 10);
        const __m512i biased = _mm512_and_si512(_mm512_permutexvar_epi8(index, table), _mm512_set1_epi32(0xFF));
        const __m512 value = _mm512_div_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(biased, _mm512_set1_epi32(128))),
                                           _mm512_set1_ps(float(trellis::kHash6Divisor)));
        _mm512_storeu_ps(weights + 16 * v, _mm512_mul_ps(scale, value));
      }
      break;
    }
    case trellis::Code::kXor7: {
      // The index from the mix table (vpermi2b on the lanes' low bytes), then DecodeXor7's
      // floats t / 47 from four registers of them: two vpermt2ps and a blend on index bit 6.
      const WindowTable& wt = Windows(w.bits, 1);
      const Xor7Lookup l = LoadXor7Lookup();
      const float* f = Xor7Floats();
      const __m512 f0 = _mm512_load_ps(f), f1 = _mm512_load_ps(f + 16), f2 = _mm512_load_ps(f + 32),
                   f3 = _mm512_load_ps(f + 48), f4 = _mm512_load_ps(f + 64), f5 = _mm512_load_ps(f + 80),
                   f6 = _mm512_load_ps(f + 96), f7 = _mm512_load_ps(f + 112);
      for (int v = 0; v < 16; ++v) {
        const __m512i s = States(t, wt, v);
        const __m512i mix = _mm512_permutex2var_epi8(l.mix0, _mm512_srli_epi32(s, 9), l.mix1);
        const __m512i index = _mm512_and_si512(_mm512_xor_si512(s, mix), _mm512_set1_epi32(127));
        const __m512 low = _mm512_permutex2var_ps(f0, index, f1), high = _mm512_permutex2var_ps(f2, index, f3);
        const __m512 low2 = _mm512_permutex2var_ps(f4, index, f5), high2 = _mm512_permutex2var_ps(f6, index, f7);
        const __mmask16 bit5 = _mm512_test_epi32_mask(index, _mm512_set1_epi32(32));
        const __mmask16 bit6 = _mm512_test_epi32_mask(index, _mm512_set1_epi32(64));
        const __m512 value = _mm512_mask_blend_ps(bit6, _mm512_mask_blend_ps(bit5, low, high),
                                                  _mm512_mask_blend_ps(bit5, low2, high2));
        _mm512_storeu_ps(weights + 16 * v, _mm512_mul_ps(scale, value));
      }
      break;
    }
    case trellis::Code::kHyb: {
      const WindowTable& wt = Windows(w.bits, 2);
      for (int v = 0; v < 8; ++v) {
        __m512 first, second;
        ValuesHyb(States(t, wt, v), w.hyb_table, &first, &second);
        _mm512_storeu_ps(weights + 32 * v, _mm512_mul_ps(scale, first));
        _mm512_storeu_ps(weights + 32 * v + 16, _mm512_mul_ps(scale, second));
      }
      break;
    }
  }
}

#else  // no AVX-512 intrinsics: Supported() is false and these are never called.

void TrellisRowBlocks(const TrellisMatrixView&, const TrellisActivations&, int, int, float*) { QUIP_ASSERT(false); }
void DecodeTrellisTile(const TrellisMatrixView&, const uint8_t*, float*) { QUIP_ASSERT(false); }

#endif

}  // namespace quip::kernels::avx512
