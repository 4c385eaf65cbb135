// The portable trellis kernel of trellis_matvec_simd.h, compiled once per CPU target with
// Highway (foreach_target.h re-includes this file per target).
//
// Per tile: the states cut out of the stream in scalar code, then per vector of N states the
// code evaluated in lanes with the same float operations as the scalar decoders
// (format/trellis_codes.cc), so the decoded tile is bit-identical to the reference.
#include <array>
#include <cstring>

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/trellis_matvec_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "format/trellis_tiles.h"
#include "kernels/trellis_matvec_simd.h"

HWY_BEFORE_NAMESPACE();
namespace quip::kernels::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DU = hn::ScalableTag<uint32_t>;
using DI = hn::RebindToSigned<DU>;
using DF = hn::Repartition<float, DU>;

using trellis::kTileSide;
using trellis::kTileWeights;

// The tile's `steps` states: `words` holds its TileWords words and the first again (the
// windows that wrap). Scalar, word by word: the states starting in word q are shifted out of
// words q and q + 1 as one 64-bit value (indexing the words per state, the compiler makes
// gathers of it, 20x slower).
void TileStates(const uint32_t* words, int steps, int step_bits, uint32_t* states) {
  int s = 0;
  for (int q = 0; s < steps; ++q) {
    const uint64_t pair = (uint64_t(words[q]) << 32) | words[q + 1];
    for (; s < steps && s * step_bits < 32 * (q + 1); ++s)
      states[s] = uint32_t(pair >> (48 - (s * step_bits - 32 * q))) & 0xFFFFu;
  }
}

// 1MAD: (byte sum of 34038481·s + 76625530, minus 510) / 147.8005, as Decode1Mad; for
// products (!exact) times the reciprocal instead, a division costing more than the rest.
HWY_INLINE hn::Vec<DF> Value1Mad(hn::Vec<DU> s, bool exact) {
  const DU du;
  const DF df;
  const DI di;
  const auto x = hn::Add(hn::Mul(s, hn::Set(du, 34038481u)), hn::Set(du, 76625530u));
  const auto byte = hn::Set(du, 255u);
  const auto sum = hn::Add(hn::Add(hn::And(x, byte), hn::And(hn::ShiftRight<8>(x), byte)),
                           hn::Add(hn::And(hn::ShiftRight<16>(x), byte), hn::ShiftRight<24>(x)));
  const auto centered = hn::ConvertTo(df, hn::Sub(hn::BitCast(di, sum), hn::Set(di, 510)));
  constexpr float kDeviation = 147.800537109375f;
  return exact ? hn::Div(centered, hn::Set(df, kDeviation)) : hn::Mul(centered, hn::Set(df, 1.0f / kDeviation));
}

// An IEEE half in the low 16 bits of each lane as float; 3INST's halves are all normal
// (exponents 2^-3 .. 2^0), so moving the fields and rebiasing the exponent is exact.
HWY_INLINE hn::Vec<DF> NormalHalfToFloat(hn::Vec<DU> h) {
  const DU du;
  const auto sign = hn::ShiftLeft<16>(hn::And(h, hn::Set(du, 0x8000u)));
  const auto magnitude = hn::Add(hn::ShiftLeft<13>(hn::And(h, hn::Set(du, 0x7FFFu))), hn::Set(du, 112u << 23));
  return hn::BitCast(DF(), hn::Or(sign, magnitude));
}

// 3INST: the two halves of (89226354·s + 64248484) & 0x8FFF8FFF ^ 0x3B603B60, summed.
HWY_INLINE hn::Vec<DF> Value3Inst(hn::Vec<DU> s) {
  const DU du;
  const auto x = hn::Add(hn::Mul(s, hn::Set(du, 89226354u)), hn::Set(du, 64248484u));
  const auto bits = hn::Xor(hn::And(x, hn::Set(du, 0x8FFF8FFFu)), hn::Set(du, 0x3B603B60u));
  return hn::Add(NormalHalfToFloat(hn::ShiftRight<16>(bits)), NormalHalfToFloat(hn::And(bits, hn::Set(du, 0xFFFFu))));
}

// HASH6: the table entry of the top 6 bits of 0x9E37·s mod 2^16, as DecodeHash6 (t / 48).
HWY_INLINE hn::Vec<DF> ValueHash6(hn::Vec<DU> s) {
  static const auto values = [] {
    std::array<float, 64> v;
    for (int i = 0; i < 64; ++i) v[i] = float(trellis::kHash6Table[i]) / float(trellis::kHash6Divisor);
    return v;
  }();
  const DU du;
  const auto index = hn::ShiftRight<10>(hn::And(hn::Mul(s, hn::Set(du, 0x9E37u)), hn::Set(du, 0xFFFFu)));
  return hn::GatherIndex(DF(), values.data(), hn::BitCast(DI(), index));
}

// XOR7: the table entry of (s XOR m(s >> 9)) mod 128, as DecodeXor7 (t / 47).
HWY_INLINE hn::Vec<DF> ValueXor7(hn::Vec<DU> s) {
  static const auto values = [] {
    std::array<float, 128> v;
    for (int i = 0; i < 128; ++i) v[i] = float(trellis::kXor7Table[i]) / float(trellis::kXor7Divisor);
    return v;
  }();
  const DU du;
  const auto high = hn::And(hn::ShiftRight<9>(s), hn::Set(du, 127u));
  const auto mix = hn::ShiftRight<9>(hn::And(hn::Mul(high, hn::Set(du, 0x9E37u)), hn::Set(du, 0xFFFFu)));
  const auto index = hn::And(hn::Xor(s, mix), hn::Set(du, 127u));
  return hn::GatherIndex(DF(), values.data(), hn::BitCast(DI(), index));
}

// The tile's 256 weights times `scale`, row-major; `exact`: the reference's floats.
void DecodeTile(const TrellisMatrixView& w, const uint8_t* tile, float scale, bool exact, float* weights) {
  const DU du;
  const DF df;
  const DI di;
  const int N = int(hn::Lanes(du));
  const int words = trellis::TileWords(w.bits);
  alignas(64) uint32_t stream[trellis::TileWords(4) + 1];
  alignas(64) uint32_t states[kTileWeights];
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "tile words are stored little-endian");
  std::memcpy(stream, tile, size_t(words) * 4);
  stream[words] = stream[0];
  const int v = trellis::ValuesPerState(w.code);
  TileStates(stream, kTileWeights / v, w.bits * v, states);
  const auto vscale = hn::Set(df, scale);
  switch (w.code) {
    case trellis::Code::k1Mad:
    case trellis::Code::k3Inst:
    case trellis::Code::kHash6:
    case trellis::Code::kXor7:
      for (int s = 0; s < kTileWeights; s += N) {
        const auto st = hn::Load(du, states + s);
        const auto value = w.code == trellis::Code::k1Mad    ? Value1Mad(st, exact)
                       : w.code == trellis::Code::k3Inst ? Value3Inst(st)
                       : w.code == trellis::Code::kHash6 ? ValueHash6(st)
                                                         : ValueXor7(st);
        hn::StoreU(hn::Mul(vscale, value), df, weights + s);
      }
      break;
    case trellis::Code::kHyb: {
      const auto* table = w.hyb_table;
      for (int s = 0; s < kTileWeights / 2; s += N) {
        const auto st = hn::Load(du, states + s);
        const auto h = hn::Mul(hn::Add(st, hn::Set(du, 1u)), st);
        const auto row = hn::BitCast(di, hn::And(hn::ShiftRight<15 - trellis::kHybTableBits>(h),
                                                 hn::Set(du, (1u << trellis::kHybTableBits) - 1)));
        const auto first = hn::GatherIndex(df, table, hn::Add(row, row));
        const auto second = hn::GatherIndex(df, table, hn::Add(hn::Add(row, row), hn::Set(di, 1)));
        // Bit 15 of h flips the first value's sign: the sign bit XORed in, as −1·v.
        const auto sign = hn::BitCast(df, hn::ShiftLeft<16>(hn::And(h, hn::Set(du, 0x8000u))));
        hn::StoreInterleaved2(hn::Mul(vscale, hn::Xor(first, sign)), hn::Mul(vscale, second), df, weights + 2 * s);
      }
      break;
    }
  }
}

void DecodeTrellisTile(const TrellisMatrixView& w, const uint8_t* tile, float* weights) {
  DecodeTile(w, tile, w.scale, /*exact=*/true, weights);
}

void TrellisRowBlocks(const TrellisMatrixView& w, const float* x, int b0, int b1, float* y) {
  const DF df;
  const int N = int(hn::Lanes(df));
  const int tiles = w.cols / kTileSide;
  const size_t tile_bytes = size_t(trellis::TileWords(w.bits)) * 4;
  alignas(64) float weights[kTileWeights];
  alignas(64) float acc[kTileWeights];  // acc[r·16 + c]: row r's products with columns ≡ c mod 16
  for (int b = b0; b < b1; ++b) {
    for (int i = 0; i < kTileWeights; i += N) hn::Store(hn::Zero(df), df, acc + i);
    for (int j = 0; j < tiles; ++j) {
      DecodeTile(w, w.codes + (size_t(b) * tiles + j) * tile_bytes, 1.0f, /*exact=*/false, weights);
      for (int r = 0; r < kTileSide; ++r)
        for (int c = 0; c < kTileSide; c += N) {
          const int i = r * kTileSide + c;
          hn::Store(hn::MulAdd(hn::Load(df, weights + i), hn::LoadU(df, x + j * kTileSide + c), hn::Load(df, acc + i)),
                    df, acc + i);
        }
    }
    for (int r = 0; r < kTileSide; ++r) {
      auto sum = hn::Zero(df);
      for (int c = 0; c < kTileSide; c += N) sum = hn::Add(sum, hn::Load(df, acc + r * kTileSide + c));
      y[b * kTileSide + r] = w.scale * hn::GetLane(hn::SumOfLanes(df, sum));
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace quip::kernels::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace quip::kernels::simd {

HWY_EXPORT(DecodeTrellisTile);
HWY_EXPORT(TrellisRowBlocks);

void DecodeTrellisTile(const TrellisMatrixView& w, const uint8_t* tile, float* weights) {
  HWY_DYNAMIC_DISPATCH(DecodeTrellisTile)(w, tile, weights);
}

void TrellisRowBlocks(const TrellisMatrixView& w, const float* x, int b0, int b1, float* y) {
  HWY_DYNAMIC_DISPATCH(TrellisRowBlocks)(w, x, b0, b1, y);
}

}  // namespace quip::kernels::simd
#endif  // HWY_ONCE
