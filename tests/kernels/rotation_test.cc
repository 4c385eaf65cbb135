// The fast rotations (kernels/rotation.h: float, SIMD small products, tokens or — for
// one large Kronecker token — rows over the pool) against the quant/ transforms in
// double, the ones quantization used, both directions:
//   FastKronecker vs KroneckerTransform: prime (p = 1), small, Llama widths 2048 and
//     5632 (5632 = 64·88: one token takes the row-split path);
//   FastHadamard vs HadamardTransform: K = 1 and every K > 1 order hadamard.h builds.
// 1, 3 and 40 tokens; 1, 2 and 7 threads. Tolerance: 1e-5 relative to the vector norm.
#include "kernels/rotation.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/parallel.h"
#include "format/hadamard.h"
#include "kernels/fwht_simd.h"

namespace quip::kernels {
namespace {

// Fast (float) and reference (double) transforms agree on random tokens, both ways.
template <class Fast, class Reference>
void ExpectSameTransform(const Fast& fast, const Reference& t, int n) {
  for (int ntok : {1, 3, 40}) {
    SCOPED_TRACE(::testing::Message() << "ntok " << ntok);
    std::mt19937_64 rng(n * 7 + ntok);
    std::normal_distribution<double> g;
    std::vector<double> xd(size_t(ntok) * n);
    for (auto& v : xd) v = g(rng);
    std::vector<float> xf(xd.begin(), xd.end()), xt = xf;
    std::vector<double> ref = xd, ref_t = xd;
    t.Apply(ref.data(), ntok);
    t.ApplyTransposed(ref_t.data(), ntok);
    fast.Apply(xf.data(), ntok);
    fast.ApplyTransposed(xt.data(), ntok);
    for (int k = 0; k < ntok; ++k) {
      double norm = 0;
      for (int i = 0; i < n; ++i) norm += xd[size_t(k) * n + i] * xd[size_t(k) * n + i];
      const double tol = 1e-5 * std::sqrt(norm);
      for (int i = 0; i < n; ++i) {
        const size_t j = size_t(k) * n + i;
        ASSERT_NEAR(xf[j], ref[j], tol) << "Apply, token " << k << " index " << i;
        ASSERT_NEAR(xt[j], ref_t[j], tol) << "ApplyTransposed, token " << k << " index " << i;
      }
    }
  }
}

TEST(FastKronecker, MatchesTheDoubleTransformBothWays) {
  for (int threads : {1, 2, 7}) {
    SetWorkerThreads(threads);
    for (int n : {7, 64, 520, 2048, 5632}) {
      SCOPED_TRACE(::testing::Message() << "n " << n << " threads " << threads);
      const KroneckerTransform t(n, 1000 + n);
      ExpectSameTransform(FastKronecker(t), t, n);
    }
  }
  SetWorkerThreads(0);
}

TEST(FastHadamard, MatchesTheDoubleTransformBothWays) {
  std::vector<int> sizes = {1, 8, 256, 2048};
  for (int k : HadamardBaseOrders()) sizes.push_back(2 * k);
  sizes.push_back(5632);  // 44·128
  for (int threads : {1, 2, 7}) {
    SetWorkerThreads(threads);
    for (int n : sizes) {
      SCOPED_TRACE(::testing::Message() << "n " << n << " threads " << threads);
      const HadamardTransform t(n, 2000 + n);
      ExpectSameTransform(FastHadamard(t), t, n);
    }
  }
  SetWorkerThreads(0);
}

// The SIMD Walsh–Hadamard transform equals the reference loop bit for bit (same sums in the
// same stage order), on every SIMD target, for every power of two up to 8192 — below,
// at and above the vector width — on values of mixed magnitudes, where any other order
// of additions would round differently.
TEST(SimdWalshHadamard, BitIdenticalToTheReferenceOnEveryTarget) {
  int tested = 0;
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    ++tested;
    std::mt19937_64 rng(77 + tested);
    std::normal_distribution<float> g;
    std::uniform_int_distribution<int> e(-12, 12);
    for (int m = 1; m <= 8192; m *= 2) {
      SCOPED_TRACE(::testing::Message() << hwy::TargetName(target) << " m " << m);
      std::vector<float> x(m);
      for (float& v : x) v = std::ldexp(g(rng), e(rng));
      std::vector<float> want = x;
      FastWalshHadamard(want.data(), m);
      simd::FastWalshHadamard(x.data(), m);
      ASSERT_EQ(std::memcmp(want.data(), x.data(), sizeof(float) * m), 0);
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GE(tested, 1);
}

}  // namespace
}  // namespace quip::kernels
