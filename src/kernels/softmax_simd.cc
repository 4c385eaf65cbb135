// CausalSoftmax of softmax.h, compiled once per CPU target with Highway.
#include <algorithm>
#include <cmath>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/softmax_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/contrib/math/math-inl.h"
#include "hwy/highway.h"
#include "kernels/softmax.h"

HWY_BEFORE_NAMESPACE();
namespace quip::kernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void CausalSoftmax(float* row, int visible, int n) {
  const hn::ScalableTag<float> df;
  const int N = int(hn::Lanes(df));
  float max_score = -INFINITY;
  {
    auto vmax = hn::Set(df, -INFINITY);
    int p = 0;
    for (; p + N <= visible; p += N) vmax = hn::Max(vmax, hn::LoadU(df, row + p));
    max_score = hn::GetLane(hn::MaxOfLanes(df, vmax));
    for (; p < visible; ++p) max_score = std::max(max_score, row[p]);
  }
  const auto vm = hn::Set(df, max_score);
  auto vsum = hn::Zero(df);
  int p = 0;
  for (; p + N <= visible; p += N) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, row + p), vm));
    hn::StoreU(e, df, row + p);
    vsum = hn::Add(vsum, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(df, vsum));
  for (; p < visible; ++p) sum += (row[p] = std::exp(row[p] - max_score));
  const float inv = 1.0f / sum;
  const auto vinv = hn::Set(df, inv);
  for (p = 0; p + N <= visible; p += N) hn::StoreU(hn::Mul(hn::LoadU(df, row + p), vinv), df, row + p);
  for (; p < visible; ++p) row[p] *= inv;
  std::fill(row + visible, row + n, 0.0f);
}

}  // namespace HWY_NAMESPACE
}  // namespace quip::kernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace quip::kernels {

HWY_EXPORT(CausalSoftmax);

void CausalSoftmax(float* row, int visible, int n) { HWY_DYNAMIC_DISPATCH(CausalSoftmax)(row, visible, n); }

}  // namespace quip::kernels
#endif  // HWY_ONCE
