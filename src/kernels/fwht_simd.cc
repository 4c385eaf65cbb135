// SIMD fast Walsh–Hadamard transform (fwht_simd.h). Why: the reference loop (format/
// hadamard.cc) vectorises only its stages with half-width h ≥ 16; its first four stages
// run one butterfly at a time, and the rotations then took ~14 % of a 128-token prompt's
// products on the synthetic model with OpenBLAS's AVX-512 sgemm (docs/kernels.md).
//
// Stages h < N (N lanes) stay inside one vector, aligned blocks of 2h ≤ N being independent:
// lane i gets x[i ^ h] + (±x[i]) — the partner from one lane permute, the sign by flipping
// the sign bit where i & h is set: x[i] + x[i+h] for the lower lane and x[i] + (−x[i+h]) =
// x[i] − x[i+h] for the upper one, the reference's sums exactly (IEEE addition commutes and
// a − b is a + (−b)). Stages h ≥ N are whole-vector butterflies, in the reference's order.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/fwht_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "format/hadamard.h"
#include "kernels/fwht_simd.h"

#ifndef QUIP_FWHT_TABLES
#define QUIP_FWHT_TABLES
namespace quip::kernels::simd {
// Per in-register stage s (h = 2^s, up to 16 lanes): lane i's partner i ^ h, and the sign
// bit set where i & h is.
struct FwhtTables {
  alignas(64) int32_t partner[4][16];
  alignas(64) uint32_t flip[4][16];
};
constexpr FwhtTables MakeFwhtTables() {
  FwhtTables t{};
  for (int s = 0; s < 4; ++s)
    for (int i = 0; i < 16; ++i) {
      t.partner[s][i] = i ^ (1 << s);
      t.flip[s][i] = (i >> s) & 1 ? 0x80000000u : 0u;
    }
  return t;
}
inline constexpr FwhtTables kFwhtTables = MakeFwhtTables();
}  // namespace quip::kernels::simd
#endif

HWY_BEFORE_NAMESPACE();
namespace quip::kernels::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void FastWalshHadamard(float* x, int m) {
  const hn::ScalableTag<float> d;
  const hn::RebindToUnsigned<decltype(d)> du;
  const int N = int(hn::Lanes(d));
  if (m < N || N > 16) return quip::FastWalshHadamard(x, m);  // shorter than a vector: the reference
  for (int i = 0; i < m; i += N) {
    auto v = hn::LoadU(d, x + i);
    for (int s = 0; (1 << s) < N; ++s) {
      const auto partner = hn::TableLookupLanes(v, hn::SetTableIndices(d, kFwhtTables.partner[s]));
      v = hn::Add(partner, hn::Xor(v, hn::BitCast(d, hn::Load(du, kFwhtTables.flip[s]))));
    }
    hn::StoreU(v, d, x + i);
  }
  for (int h = N; h < m; h *= 2)
    for (int i = 0; i < m; i += 2 * h)
      for (int j = i; j < i + h; j += N) {
        const auto a = hn::LoadU(d, x + j), b = hn::LoadU(d, x + j + h);
        hn::StoreU(hn::Add(a, b), d, x + j);
        hn::StoreU(hn::Sub(a, b), d, x + j + h);
      }
}

}  // namespace HWY_NAMESPACE
}  // namespace quip::kernels::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace quip::kernels::simd {

HWY_EXPORT(FastWalshHadamard);

void FastWalshHadamard(float* x, int m) { HWY_DYNAMIC_DISPATCH(FastWalshHadamard)(x, m); }

}  // namespace quip::kernels::simd
#endif  // HWY_ONCE
