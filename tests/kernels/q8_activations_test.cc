// QuantizeQ8 (kernels/q8_activations.h) against its definition evaluated in float with
// scalar code, exactly: inv = 127/amax, round-half-to-even of x·inv with std::nearbyint,
// clamped to ±127 — on every SIMD target, odd lengths (vector tails, a partial last
// group), random scales, and inputs placed on exact ties (x·inv = k + ½), where only the
// rounding rule decides.
#include "kernels/q8_activations.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace quip::kernels {
namespace {

// The definition, one value at a time.
void QuantizeQ8Scalar(const std::vector<float>& x, std::vector<int8_t>& xq, std::vector<float>& scale) {
  const int cols = int(x.size());
  xq.assign(cols, 0);
  scale.assign(Q8Groups(cols), 0.0f);
  for (int g = 0, c0 = 0; c0 < cols; ++g, c0 += kQ8Group) {
    const int c1 = std::min(cols, c0 + kQ8Group);
    float amax = 0.0f;
    bool finite = true;
    for (int c = c0; c < c1; ++c) finite &= std::isfinite(x[c]), amax = std::max(amax, std::abs(x[c]));
    if (!finite) {
      scale[g] = NAN;
      continue;  // xq stays 0
    }
    const float inv = amax > 0.0f ? 127.0f / amax : 0.0f;
    scale[g] = amax / 127.0f;
    for (int c = c0; c < c1; ++c) xq[c] = int8_t(std::clamp(int(std::nearbyint(x[c] * inv)), -127, 127));
  }
}

// Random values of a random magnitude; with `ties`, each group's maximum is 127·2^e so
// that inv = 2^−e exactly and most values sit on k + ½ (k even or odd) times 2^e.
std::vector<float> RandomInput(int cols, bool ties, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-20, 20), k(-127, 126), coin(0, 3);
  std::vector<float> x(cols);
  const float magnitude = std::ldexp(1.0f, exponent(rng));
  for (float& v : x) v = magnitude * u(rng);
  if (ties) {
    for (int c0 = 0; c0 < cols; c0 += kQ8Group) {
      const int c1 = std::min(cols, c0 + kQ8Group);
      for (int c = c0; c < c1; ++c) x[c] = coin(rng) ? magnitude * (float(k(rng)) + 0.5f) : magnitude * float(k(rng));
      x[c0 + (c1 - c0) / 2] = (coin(rng) & 1 ? -127.0f : 127.0f) * magnitude;
    }
  }
  return x;
}

TEST(QuantizeQ8, BitIdenticalToScalarDefinitionOnEveryTarget) {
  int tested = 0;
  int64_t ties_seen = 0;
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    ++tested;
    std::mt19937 rng(1234 + tested);
    for (int trial = 0; trial < 300; ++trial) {
      const int cols = trial < 20 ? 1 + trial : std::uniform_int_distribution<int>(1, 3000)(rng);
      const bool ties = trial % 2 == 1;
      const std::vector<float> x = RandomInput(cols, ties, rng);
      std::vector<int8_t> want, got(cols, 99);
      std::vector<float> want_scale, got_scale(Q8Groups(cols), -1.0f);
      QuantizeQ8Scalar(x, want, want_scale);
      QuantizeQ8(x.data(), cols, got.data(), got_scale.data());
      SCOPED_TRACE(::testing::Message() << hwy::TargetName(target) << " cols " << cols << " ties " << ties);
      ASSERT_EQ(std::memcmp(want.data(), got.data(), cols), 0);
      ASSERT_EQ(std::memcmp(want_scale.data(), got_scale.data(), sizeof(float) * want_scale.size()), 0);
      if (ties)
        for (int c0 = 0; c0 < cols; c0 += kQ8Group) {
          const int c1 = std::min(cols, c0 + kQ8Group);
          float amax = 0.0f;
          for (int c = c0; c < c1; ++c) amax = std::max(amax, std::abs(x[c]));
          for (int c = c0; c < c1; ++c) {
            const float v = x[c] * (127.0f / amax);
            ties_seen += v - std::floor(v) == 0.5f;
          }
        }
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  EXPECT_GE(tested, 1);
  EXPECT_GT(ties_seen, 10000);  // the tie inputs really are ties
}

TEST(QuantizeQ8, NonFiniteGroupGetsNaNScaleAndZeros) {
  std::mt19937 rng(7);
  for (const float bad : {INFINITY, -INFINITY, NAN, -NAN}) {
    std::vector<float> x = RandomInput(700, false, rng);
    x[300] = bad;  // group 1 of 3
    std::vector<int8_t> xq(700, 99);
    std::vector<float> scale(3);
    QuantizeQ8(x.data(), 700, xq.data(), scale.data());
    EXPECT_TRUE(std::isfinite(scale[0]) && std::isnan(scale[1]) && std::isfinite(scale[2]));
    for (int c = 256; c < 512; ++c) ASSERT_EQ(xq[c], 0) << c;
    EXPECT_NE(std::count(xq.begin(), xq.begin() + 256, int8_t{0}), 256);
  }
}

}  // namespace
}  // namespace quip::kernels
