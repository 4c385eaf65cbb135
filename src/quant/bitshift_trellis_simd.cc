// SIMD step of the trellis search (bitshift_trellis_simd.h). With fan ≥ N lanes each
// prefix's base is broadcast over whole vectors; with fan < N one vector of N prefixes'
// bases is spread over fan vectors of states by table lookups.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/bitshift_trellis_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "quant/bitshift_trellis_simd.h"

HWY_BEFORE_NAMESPACE();
namespace quip::trellis::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;

// base + Σ_k (value_k − x_k)² for the N states at s.
template <int kV>
HWY_INLINE hn::Vec<DF> Error(const float* const* values, const hn::Vec<DF>* x, uint32_t s, hn::Vec<DF> base) {
  const DF d;
  auto e = base;
  for (int k = 0; k < kV; ++k) {
    const auto diff = hn::Sub(hn::LoadU(d, values[k] + s), x[k]);
    e = hn::Add(e, hn::Mul(diff, diff));
  }
  return e;
}

template <int kV>
void AddErrorsV(const float* const* values, const float* x, const float* base, uint32_t num_prefixes, uint32_t fan,
                float* out) {
  const DF d;
  const DI di;
  const uint32_t N = uint32_t(hn::Lanes(d));
  hn::Vec<DF> xv[kV];
  for (int k = 0; k < kV; ++k) xv[k] = hn::Set(d, x[k]);
  const uint32_t num_states = num_prefixes * fan;
  if (fan >= N) {
    for (uint32_t q = 0; q < num_prefixes; ++q) {
      const auto bq = hn::Set(d, base[q]);
      for (uint32_t b = 0; b < fan; b += N) hn::StoreU(Error<kV>(values, xv, q * fan + b, bq), d, out + q * fan + b);
    }
    return;
  }
  if (num_prefixes < N) {  // tiny trellises (tests): scalar
    for (uint32_t s = 0; s < num_states; ++s) {
      float e = base[s / fan];
      for (int k = 0; k < kV; ++k) {
        const float diff = values[k][s] - x[k];
        e += diff * diff;
      }
      out[s] = e;
    }
    return;
  }
  // Vector j of a group of fan vectors takes lane i from base lane (j·N + i) / fan.
  HWY_ALIGN int32_t lane[HWY_MAX_BYTES / sizeof(float) * (HWY_MAX_BYTES / sizeof(float))];  // fan < N
  for (uint32_t j = 0; j < fan; ++j)
    for (uint32_t i = 0; i < N; ++i) lane[j * N + i] = int32_t((j * N + i) / fan);
  for (uint32_t q0 = 0; q0 < num_prefixes; q0 += N) {
    const auto bases = hn::LoadU(d, base + q0);
    for (uint32_t j = 0; j < fan; ++j) {
      const auto spread = hn::TableLookupLanes(bases, hn::IndicesFromVec(d, hn::Load(di, lane + j * N)));
      const uint32_t s = q0 * fan + j * N;
      hn::StoreU(Error<kV>(values, xv, s, spread), d, out + s);
    }
  }
}

void AddErrors(const float* const* values, int v, const float* x, const float* base, uint32_t num_prefixes,
               uint32_t fan, float* out) {
  if (v == 1) return AddErrorsV<1>(values, x, base, num_prefixes, fan, out);
  AddErrorsV<2>(values, x, base, num_prefixes, fan, out);
}

}  // namespace HWY_NAMESPACE
}  // namespace quip::trellis::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace quip::trellis::simd {

HWY_EXPORT(AddErrors);

void AddErrors(const float* const* values, int v, const float* x, const float* base, uint32_t num_prefixes,
               uint32_t fan, float* out) {
  HWY_DYNAMIC_DISPATCH(AddErrors)(values, v, x, base, num_prefixes, fan, out);
}

}  // namespace quip::trellis::simd
#endif  // HWY_ONCE
