// The fast rotations (kernels/rotation.h: float, SIMD small products, tokens or — for
// one large Kronecker token — rows over the pool) against the quant/ transforms in
// double, the ones quantization used, both directions:
//   FastKronecker vs KroneckerTransform: prime (p = 1), small, Llama widths 2048 and
//     5632 (5632 = 64·88: one token takes the row-split path);
//   FastHadamard vs HadamardTransform: K = 1 and every K > 1 order hadamard.h builds.
// 1, 3 and 40 tokens; 1, 2 and 7 threads. Tolerance: 1e-5 relative to the vector norm.
#include "kernels/rotation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/parallel.h"
#include "format/hadamard.h"

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

}  // namespace
}  // namespace quip::kernels
