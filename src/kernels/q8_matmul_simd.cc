// The int8-activation fused matvec of q8_matmul_simd.h, compiled once per CPU target
// with Highway (foreach_target.h re-includes this file per target).
//
// Inner loop per block of B = k·V codes and per code position j: one 16-bit shift and
// one AND put code j of every byte in a byte lane, and one multiply-pair-add (u8 code ×
// i8 activation → i16, vpmaddubsw on x86) accumulates it. Per block the i16
// sums are widened to i32 (pair-add with ones); per 256-column group the i32 sum is
// converted to float and scaled by the group's activation step.
//
// Overflow: a pair-add lane is at most 2·15·127 = 3810 (4-bit) and a block adds k of
// them (k = 4 at 2 bits: ≤ 3048; k = 2 at 4 bits: ≤ 7620), far inside int16; a group's
// i32 sum is at most 256·15·127.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <utility>
#include <vector>

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/q8_matmul_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/unroll.h"
#include "kernels/int8_dot-inl.h"
#include "kernels/q8_matmul_simd.h"

HWY_BEFORE_NAMESPACE();
namespace quip::kernels::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DU8 = hn::ScalableTag<uint8_t>;
using DI8 = hn::RebindToSigned<DU8>;
using DU16 = hn::Repartition<uint16_t, DU8>;
using DI16 = hn::Repartition<int16_t, DU8>;
using DI32 = hn::Repartition<int32_t, DU8>;
using DF = hn::Repartition<float, DU8>;

// Code j of every byte of v (k = 8/kBits codes per byte, code j at bits kBits·j).
template <int kBits, int j>
HWY_INLINE hn::Vec<DU8> ExtractCode(hn::Vec<DU8> v) {
  const DU8 d8;
  const auto mask = hn::Set(d8, uint8_t((1u << kBits) - 1));
  if constexpr (j == 0) {
    return hn::And(v, mask);
  } else {
    // A 16-bit shift moves bits across the byte boundary; the AND removes them.
    return hn::And(hn::BitCast(d8, hn::ShiftRight<kBits * j>(hn::BitCast(DU16(), v))), mask);
  }
}

HWY_INLINE int TailCode(const uint8_t* row, int64_t c, int bits) {
  const int per_byte = 8 / bits;  // 2 and 4 bits: a code never straddles bytes
  return (row[c / per_byte] >> (bits * (c % per_byte))) & ((1 << bits) - 1);
}

template <int kBits>
void PrepareQ8T(const float* x, int cols, int8_t* xq, float* group_scale, float* xsum) {
  constexpr int kK = 8 / kBits;
  const int64_t V = int64_t(hn::Lanes(DU8()));
  const int64_t B = kK * V;
  const int64_t full = cols / B * B;
  thread_local std::vector<int8_t> natural;
  natural.resize(cols);
  QuantizeQ8(x, cols, natural.data(), group_scale);
  double sum = 0;
  for (int g = 0, c0 = 0; c0 < cols; ++g, c0 += kQ8Group) {
    int isum = 0;
    for (int c = c0; c < std::min(cols, c0 + kQ8Group); ++c) isum += natural[c];
    sum += double(group_scale[g]) * isum;
  }
  *xsum = float(sum);
  // Code j of byte i of block b meets SIMD position b·B + j·V + i; the tail stays in place.
  for (int64_t c = 0; c < full; ++c) {
    const int64_t b = c / B, off = c % B;
    xq[b * B + (off % kK) * V + off / kK] = natural[c];
  }
  for (int64_t c = full; c < cols; ++c) xq[c] = natural[c];
}

template <int kBits>
void MatmulRowsQ8T(const PackedMatrixView& w, const int8_t* xq, const float* group_scale, float xsum, int r0, int r1,
                   float* y) {
  constexpr int kK = 8 / kBits;
  const DU8 d8;
  const DI8 di8;
  const DI16 d16;
  const DI32 d32;
  const DF df;
  const int64_t V = int64_t(hn::Lanes(d8));
  const int64_t B = kK * V;
  const int64_t cols = w.cols;
  const int64_t nblk = cols / B;
  const int64_t blocks_per_group = kQ8Group / B;
  const auto ones = hn::Set(d16, int16_t(1));
  for (int r = r0; r < r1; ++r) {
    const uint8_t* row = w.codes + int64_t(r) * w.row_bytes;
    auto facc = hn::Zero(df);
    for (int64_t g = 0, blk = 0; blk < nblk; ++g) {
      auto iacc = hn::Zero(d32), iacc_odd = hn::Zero(d32);
      for (const int64_t blk_end = std::min(nblk, (g + 1) * blocks_per_group); blk < blk_end; ++blk) {
        const auto v = hn::LoadU(d8, row + blk * V);
        auto pairs = hn::Zero(d16);
        Unroll<kK>([&](auto jc) {
          constexpr int j = decltype(jc)::value;
          pairs = hn::Add(pairs, MulPairs<DU8>(ExtractCode<kBits, j>(v), hn::LoadU(di8, xq + blk * B + j * V)));
        });
        iacc = hn::ReorderWidenMulAccumulate(d32, pairs, ones, iacc, iacc_odd);
      }
      facc = hn::MulAdd(hn::ConvertTo(df, hn::Add(iacc, iacc_odd)), hn::Set(df, group_scale[g]), facc);
    }
    float tail = 0.0f;
    for (int64_t c = nblk * B; c < cols; ++c)
      tail += float(TailCode(row, c, kBits) * xq[c]) * group_scale[c / kQ8Group];
    const float dot = hn::GetLane(hn::SumOfLanes(df, facc)) + tail;
    y[r] = w.row_scale[r] * (dot - w.row_zero[r] * xsum);
  }
}

void PrepareQ8(int bits, const float* x, int cols, int8_t* xq, float* group_scale, float* xsum) {
  switch (bits) {
    case 2: return PrepareQ8T<2>(x, cols, xq, group_scale, xsum);
    case 4: return PrepareQ8T<4>(x, cols, xq, group_scale, xsum);
  }
  std::abort();  // callers check Q8Supports
}

void MatmulRowsQ8(const PackedMatrixView& w, const int8_t* xq, const float* group_scale, float xsum, int r0, int r1,
                  float* y) {
  switch (w.bits) {
    case 2: return MatmulRowsQ8T<2>(w, xq, group_scale, xsum, r0, r1, y);
    case 4: return MatmulRowsQ8T<4>(w, xq, group_scale, xsum, r0, r1, y);
  }
  std::abort();
}

}  // namespace HWY_NAMESPACE
}  // namespace quip::kernels::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace quip::kernels::simd {

HWY_EXPORT(PrepareQ8);
HWY_EXPORT(MatmulRowsQ8);

void PrepareQ8(int bits, const float* x, int cols, int8_t* xq, float* group_scale, float* xsum) {
  HWY_DYNAMIC_DISPATCH(PrepareQ8)(bits, x, cols, xq, group_scale, xsum);
}
void MatmulRowsQ8(const PackedMatrixView& w, const int8_t* xq, const float* group_scale, float xsum, int r0, int r1,
                  float* y) {
  HWY_DYNAMIC_DISPATCH(MatmulRowsQ8)(w, xq, group_scale, xsum, r0, r1, y);
}

}  // namespace quip::kernels::simd
#endif  // HWY_ONCE
