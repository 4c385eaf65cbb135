// QuantizeQ8 (q8_activations.h), compiled once per CPU target with Highway
// (foreach_target.h re-includes this file per target). It runs once per token and linear
// layer in the serial part of every one-token product, so it is vectorised: the scalar
// loop (std::nearbyint per value) took ~0.1 ms per token of the synthetic model.
//
// Bit-identical to the definition evaluated in float with std::nearbyint (the tests check
// it on every target, ties included): the group maximum is exact, inv = 127/amax is the
// same scalar division, x·inv the same float product, and NearestInt rounds half to even
// like nearbyint in the default rounding mode.
#include <algorithm>
#include <cmath>

#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/q8_activations_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/q8_activations.h"

HWY_BEFORE_NAMESPACE();
namespace quip::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

HWY_INLINE int8_t RoundOne(float x, float inv) {
  return int8_t(std::clamp(int(std::nearbyint(x * inv)), -127, 127));
}

void QuantizeQ8(const float* x, int cols, int8_t* xq, float* group_scale) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<int8_t, decltype(di)> d8;
  const int N = int(hn::Lanes(df));
  for (int g = 0, c0 = 0; c0 < cols; ++g, c0 += kQ8Group) {
    const int c1 = std::min(cols, c0 + kQ8Group);
    auto vmax = hn::Zero(df);
    auto finite = hn::FirstN(df, N);  // all true
    int c = c0;
    for (; c + N <= c1; c += N) {
      const auto v = hn::LoadU(df, x + c);
      finite = hn::And(finite, hn::IsFinite(v));
      vmax = hn::Max(vmax, hn::Abs(v));
    }
    float amax = hn::GetLane(hn::MaxOfLanes(df, vmax));
    bool all_finite = hn::AllTrue(df, finite);
    for (; c < c1; ++c) {
      all_finite &= std::isfinite(x[c]);
      amax = std::max(amax, std::abs(x[c]));
    }
    if (!all_finite) {  // every output this group feeds is NaN through its scale
      group_scale[g] = NAN;
      std::fill(xq + c0, xq + c1, int8_t{0});
      continue;
    }
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    group_scale[g] = amax / 127.0f;
    const auto vinv = hn::Set(df, inv);
    const auto lo = hn::Set(di, -127), hi = hn::Set(di, 127);
    for (c = c0; c + N <= c1; c += N) {
      const auto q = hn::NearestInt(hn::Mul(hn::LoadU(df, x + c), vinv));
      hn::StoreU(hn::DemoteTo(d8, hn::Min(hn::Max(q, lo), hi)), d8, xq + c);
    }
    for (; c < c1; ++c) xq[c] = RoundOne(x[c], inv);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace quip::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace quip::kernels {

HWY_EXPORT(QuantizeQ8);

void QuantizeQ8(const float* x, int cols, int8_t* xq, float* group_scale) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ8)(x, cols, xq, group_scale);
}

}  // namespace quip::kernels
#endif  // HWY_ONCE
