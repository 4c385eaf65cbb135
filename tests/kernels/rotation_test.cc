// FastKronecker (kernels/rotation.h: float, SIMD small products, tokens or — for one
// large token — rows over the pool) against quant/kronecker.h's KroneckerTransform in
// double, the transform that quantization used: same Q = (A ⊗ B)·P, both directions.
// Sizes: prime (p = 1), small, Llama widths 2048 and 5632 (5632 = 64·88: one token takes
// the row-split path); 1 and 3 tokens; 1, 2 and 7 threads.
// Tolerance: 1e-5 relative to the vector norm (float products of length ≤ 128).
#include "kernels/rotation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/parallel.h"

namespace quip::kernels {
namespace {

TEST(FastKronecker, MatchesTheDoubleTransformBothWays) {
  for (int threads : {1, 2, 7}) {
    SetWorkerThreads(threads);
    for (int n : {7, 64, 520, 2048, 5632}) {
      const KroneckerTransform t(n, 1000 + n);
      const FastKronecker fast(t);
      for (int ntok : {1, 3}) {
        SCOPED_TRACE(::testing::Message() << "n " << n << " ntok " << ntok << " threads " << threads);
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
  }
  SetWorkerThreads(0);
}

}  // namespace
}  // namespace quip::kernels
