// The E8P decode kernel of e8p_matvec.h, compiled once per CPU target with Highway
// (foreach_target.h re-includes this file per target).
//
// Per vector of N groups (N = 64-bit lanes: 4 on AVX2): N table reads each for the
// signed pattern (index bits 15..8) and the signs (bits 7..1), both signs applied to the
// activations, one multiply-pair-add with the pattern's absolute value; the shift term
// δ·Σxq per group from the indices' bit 0 and precomputed group sums, as a short vector. int16 partial
// sums are widened to int32 every 8 vectors (a lane then holds at most 8·2·10·127 =
// 20320), converted to float and scaled once per 256-column activation group.
#include <algorithm>
#include <cstring>

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/e8p_matvec_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/e8p_matvec_simd.h"
#include "kernels/int8_dot-inl.h"
#include "kernels/q8_activations.h"

HWY_BEFORE_NAMESPACE();
namespace quip::kernels::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DU8 = hn::ScalableTag<uint8_t>;
using DI8 = hn::RebindToSigned<DU8>;
using DU64 = hn::Repartition<uint64_t, DU8>;
using DI16 = hn::Repartition<int16_t, DU8>;
using DI32 = hn::Repartition<int32_t, DU8>;
using DF = hn::Repartition<float, DU8>;

constexpr int kGroupsPerActivationGroup = kQ8Group / 8;
constexpr int kVectorsPerWiden = 8;

enum class Stage { kE8P, kOneBit };

// Group g's Σ_i P_i·xq_i (P = 4·point) in scalar code: tails shorter than a vector.
template <Stage kStage>
HWY_INLINE int GroupDotScalar(const uint8_t* codes, int g, const E8PTables& t, const E8PActivations& a) {
  int8_t p[8];
  DecodeGroup(t, codes, g, kStage == Stage::kOneBit, p);
  int sum = 0;
  for (int i = 0; i < 8; ++i) sum += p[i] * a.xq[8 * g + i];
  return sum;
}

// Σ_c P[c]·x_c over the row for one stage, x ≈ a_g·xq per activation group.
template <Stage kStage>
HWY_INLINE float StageDot(const uint8_t* codes, int groups, const E8PTables& t, const E8PActivations& a) {
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "E8P indices are stored little-endian");
  const DU8 d8;
  const DI8 di8;
  const DU64 d64;
  const DI16 d16;
  const DI32 d32;
  const DF df;
  // One int16 / int32 lane per group of the vector (N lanes, a partial vector).
  const hn::Rebind<uint16_t, DU64> du16n;
  const hn::Rebind<int16_t, DU64> di16n;
  const hn::Rebind<int32_t, DU64> di32n;
  const int N = int(hn::Lanes(d64));  // groups per vector
  const auto ones = hn::Set(d16, int16_t(1));
  auto facc = hn::Zero(df);
  float scalar_acc = 0.0f;
  for (int g0 = 0, ag = 0; g0 < groups; g0 += kGroupsPerActivationGroup, ++ag) {
    const int g1 = std::min(groups, g0 + kGroupsPerActivationGroup);
    auto acc32 = hn::Zero(d32), acc32_odd = hn::Zero(d32);
    auto shift_acc = hn::Zero(di32n);  // Σ δ_g·Σxq_g: δ = +1 with the shift bit set, else −1
    int scalar_sum = 0;                // tail groups
    int g = g0;
    while (g + N <= g1) {
      auto acc16 = hn::Zero(d16);
      for (int v = 0; v < kVectorsPerWiden && g + N <= g1; ++v, g += N) {
        uint64_t entries[hn::MaxLanes(DU64())];
        const auto x = hn::LoadU(di8, a.xq + 8 * g);
        if constexpr (kStage == Stage::kE8P) {
          uint64_t sign[hn::MaxLanes(DU64())];
          for (int q = 0; q < N; ++q) {
            entries[q] = t.pattern[codes[2 * (g + q) + 1]];  // index bits 15..8
            sign[q] = t.signs[codes[2 * (g + q)] >> 1];       // index bits 7..1
          }
          const auto p = hn::BitCast(di8, hn::LoadU(d64, entries));
          const auto xs = ApplySign(ApplySign(x, hn::BitCast(di8, hn::LoadU(d64, sign))), p);
          acc16 = hn::Add(acc16, MulPairs<DU8>(hn::BitCast(d8, hn::Abs(p)), xs));
          const auto idx = hn::LoadU(du16n, reinterpret_cast<const uint16_t*>(codes + 2 * g));
          const auto delta = hn::Sub(hn::BitCast(di16n, hn::ShiftLeft<1>(hn::And(idx, hn::Set(du16n, 1)))),
                                     hn::Set(di16n, 1));
          shift_acc = hn::Add(shift_acc, hn::PromoteTo(di32n, hn::Mul(delta, hn::LoadU(di16n, a.group_sum + g))));
        } else {
          for (int q = 0; q < N; ++q) entries[q] = t.one_bit[codes[g + q]];
          const auto p = hn::BitCast(di8, hn::LoadU(d64, entries));
          acc16 = hn::Add(acc16, MulPairs<DU8>(hn::BitCast(d8, hn::Abs(p)), ApplySign(x, p)));
        }
      }
      acc32 = hn::ReorderWidenMulAccumulate(d32, acc16, ones, acc32, acc32_odd);
    }
    for (; g < g1; ++g) scalar_sum += GroupDotScalar<kStage>(codes, g, t, a);
    if constexpr (kStage == Stage::kE8P) scalar_sum += hn::GetLane(hn::SumOfLanes(di32n, shift_acc));
    const float scale = a.group_scale[ag];
    facc = hn::MulAdd(hn::ConvertTo(df, hn::Add(acc32, acc32_odd)), hn::Set(df, scale), facc);
    scalar_acc += scale * float(scalar_sum);
  }
  return hn::GetLane(hn::SumOfLanes(df, facc)) + scalar_acc;
}

void E8PRows(const E8PMatrixView& w, const E8PTables& t, const E8PActivations& a, int r0, int r1, float* y) {
  const int G = w.groups;
  for (int r = r0; r < r1; ++r) {
    const uint8_t* row = w.codes + int64_t(r) * w.row_bytes;
    float dot = w.stage_scale[0] * StageDot<Stage::kE8P>(row, G, t, a);
    if (w.bits == 3) dot += w.stage_scale[1] * StageDot<Stage::kOneBit>(row + 2 * G, G, t, a);
    if (w.bits == 4) dot += w.stage_scale[1] * StageDot<Stage::kE8P>(row + 2 * G, G, t, a);
    y[r] = 0.25f * dot;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace quip::kernels::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace quip::kernels::simd {

HWY_EXPORT(E8PRows);

void E8PRows(const E8PMatrixView& w, const E8PTables& t, const E8PActivations& a, int r0, int r1, float* y) {
  HWY_DYNAMIC_DISPATCH(E8PRows)(w, t, a, r0, r1, y);
}

}  // namespace quip::kernels::simd
#endif  // HWY_ONCE
