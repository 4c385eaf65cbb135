// SIMD small-matrix product for the rotations (see small_matmul_simd.h). Row i of C is
// Σ_k L[i][k]·R[k][:]: a broadcast of L[i][k] times contiguous rows of R, which stay
// in L1 (R is a Kronecker factor or one token's block, at most 128×128 floats).
// Four rows of C × two vectors of columns per register tile; scalar column tail.

// Arrays of vectors (the accumulator tile) need sized vector types.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/small_matmul_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/small_matmul_simd.h"

HWY_BEFORE_NAMESPACE();
namespace quip::kernels::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Rows [i, i + kRows) of C, columns [c0, c0 + kVecs·N): kRows·kVecs independent
// accumulators (8 for the common shapes), enough to hide the FMA latency.
template <int kRows, int kVecs>
HWY_INLINE void Tile(const float* l, int k, const float* r, int n, float* c, int i, int c0) {
  const hn::ScalableTag<float> d;
  const int N = int(hn::Lanes(d));
  hn::Vec<decltype(d)> acc[kRows][kVecs];
  for (int a = 0; a < kRows; ++a)
    for (int v = 0; v < kVecs; ++v) acc[a][v] = hn::Zero(d);
  const float* l0 = l + int64_t(i) * k;
  for (int kk = 0; kk < k; ++kk) {
    const float* rr = r + int64_t(kk) * n + c0;
    hn::Vec<decltype(d)> rv[kVecs];
    for (int v = 0; v < kVecs; ++v) rv[v] = hn::LoadU(d, rr + v * N);
    for (int a = 0; a < kRows; ++a) {
      const auto b = hn::Set(d, l0[int64_t(a) * k + kk]);
      for (int v = 0; v < kVecs; ++v) acc[a][v] = hn::MulAdd(b, rv[v], acc[a][v]);
    }
  }
  for (int a = 0; a < kRows; ++a)
    for (int v = 0; v < kVecs; ++v) hn::StoreU(acc[a][v], d, c + int64_t(i + a) * n + c0 + v * N);
}

template <int kRows>
HWY_INLINE void Rows(const float* l, int k, const float* r, int n, float* c, int i) {
  const int N = int(hn::Lanes(hn::ScalableTag<float>()));
  int c0 = 0;
  if constexpr (kRows == 4) {
    for (; c0 + 2 * N <= n; c0 += 2 * N) Tile<4, 2>(l, k, r, n, c, i, c0);
  } else {
    for (; c0 + 4 * N <= n; c0 += 4 * N) Tile<1, 4>(l, k, r, n, c, i, c0);
  }
  for (; c0 + N <= n; c0 += N) Tile<kRows, 1>(l, k, r, n, c, i, c0);
  for (; c0 < n; ++c0)
    for (int ri = i; ri < i + kRows; ++ri) {
      float s = 0.0f;
      for (int kk = 0; kk < k; ++kk) s += l[int64_t(ri) * k + kk] * r[int64_t(kk) * n + c0];
      c[int64_t(ri) * n + c0] = s;
    }
}

void SmallMatMul(const float* l, int m, int k, const float* r, int n, float* c) {
  int i = 0;
  for (; i + 4 <= m; i += 4) Rows<4>(l, k, r, n, c, i);
  for (; i < m; ++i) Rows<1>(l, k, r, n, c, i);
}

}  // namespace HWY_NAMESPACE
}  // namespace quip::kernels::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace quip::kernels::simd {
HWY_EXPORT(SmallMatMul);
void SmallMatMul(const float* l, int m, int k, const float* r, int n, float* c) {
  HWY_DYNAMIC_DISPATCH(SmallMatMul)(l, m, k, r, n, c);
}
}  // namespace quip::kernels::simd
#endif  // HWY_ONCE
