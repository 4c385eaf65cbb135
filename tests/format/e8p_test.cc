// The E8P codebook: its table, the 2^16 decoded points against the direct definition,
// the index round trip, exact nearest-point search against brute force, and its mean
// squared error on Gaussian data next to the best scalar 2-bit grids and the
// rate-distortion bound.
#include "format/e8p.h"

#include <gtest/gtest.h>

#include <limits>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <vector>

#include "quant/block_ldlq.h"
#include "quant/quant_test_util.h"

namespace quip {
namespace {

// QUIP_MSE_VECTORS=N measures the MSE numbers on N vectors instead (docs/e8p.md used 2^18).
int MseVectors(int dflt) {
  const char* env = std::getenv("QUIP_MSE_VECTORS");
  return env ? std::atoi(env) : dflt;
}

std::vector<std::array<double, 8>> DecodeAll() {
  std::vector<std::array<double, 8>> pts(e8p::kNumPoints);
  for (int i = 0; i < e8p::kNumPoints; ++i) e8p::Decode(uint16_t(i), pts[i].data());
  return pts;
}

TEST(QuantE8P, TableHas227BallPatternsAnd29OfNorm12) {
  const auto& t = e8p::AbsTable();
  std::set<std::array<int8_t, 8>> distinct(t.begin(), t.end());
  EXPECT_EQ(distinct.size(), 256u);
  for (int p = 0; p < 256; ++p) {
    int norm4 = 0, ones = 0, threes = 0;
    for (int v : t[p]) {
      ASSERT_TRUE(v == 1 || v == 3 || v == 5) << p;
      norm4 += v * v;
      ones += v == 1;
      threes += v == 3;
    }
    if (p < 227) {
      EXPECT_LE(norm4, 40) << p;  // ‖a‖² ≤ 10
      if (p > 0) {
        EXPECT_LT(t[p - 1], t[p]) << p;
      }
    } else {
      EXPECT_EQ(norm4, 48) << p;  // ‖a‖² = 12
      EXPECT_EQ(ones, 3);
      EXPECT_EQ(threes, 5);
    }
  }
}

// The published table, pinned. Reference: QuIP#'s definition in quip-sharp commit 79b752f
// (github.com/Cornell-RelaxML/quip-sharp, lib/codebook/latticee8_padded12.py): get_abs_grid()
// = the 227 absolute values of D̂8 ∩ {‖y‖² ≤ 10}, row-sorted ascending (torch.unique), then
// get_norm12(), whose 29 rows (2a) are copied here in order. The hash is FNV-1a 64 over the
// 256·8 bytes of 2a of that table, computed in Python from the same definition:
//   t = [v for v in itertools.product((1, 3, 5), repeat=8) if sum(c*c for c in v) <= 40]
//       + NORM12;  h = 0xcbf29ce484222325;  for b in bytes: h = ((h ^ b) * 0x100000001b3) % 2**64
// Earlier quip-sharp versions repeat row 21 as row 27; this code had (3,1,3,3,1,1,3,3) as
// row 21 and (1,3,3,3,1,1,3,3) as row 27 until issue 20.
TEST(QuantE8P, TableIsQuipSharpPublished) {
  constexpr int8_t kPublishedNorm12[29][8] = {
      {3, 1, 1, 1, 3, 3, 3, 3}, {1, 3, 1, 1, 3, 3, 3, 3}, {1, 1, 3, 1, 3, 3, 3, 3}, {1, 1, 1, 3, 3, 3, 3, 3},
      {3, 3, 3, 1, 3, 3, 1, 1}, {3, 3, 3, 1, 3, 1, 3, 1}, {3, 3, 3, 1, 1, 3, 3, 1}, {3, 3, 3, 1, 3, 1, 1, 3},
      {3, 3, 3, 1, 1, 3, 1, 3}, {3, 3, 3, 1, 1, 1, 3, 3}, {3, 3, 1, 3, 3, 3, 1, 1}, {3, 3, 1, 3, 3, 1, 3, 1},
      {3, 3, 1, 3, 1, 3, 3, 1}, {3, 3, 1, 3, 3, 1, 1, 3}, {3, 3, 1, 3, 1, 3, 1, 3}, {3, 3, 1, 3, 1, 1, 3, 3},
      {3, 1, 3, 3, 3, 3, 1, 1}, {3, 1, 3, 3, 3, 1, 3, 1}, {3, 1, 3, 3, 1, 3, 3, 1}, {3, 1, 3, 3, 3, 1, 1, 3},
      {3, 1, 3, 3, 1, 3, 1, 3}, {1, 3, 3, 3, 1, 1, 3, 3}, {1, 3, 3, 3, 3, 3, 1, 1}, {1, 3, 3, 3, 3, 1, 3, 1},
      {1, 3, 3, 3, 1, 3, 3, 1}, {1, 3, 3, 3, 3, 1, 1, 3}, {1, 3, 3, 3, 1, 3, 1, 3}, {1, 1, 3, 3, 1, 3, 3, 3},
      {3, 3, 1, 1, 3, 3, 3, 1},
  };
  const auto& t = e8p::AbsTable();
  for (int r = 0; r < 29; ++r)
    for (int i = 0; i < 8; ++i) EXPECT_EQ(t[227 + r][i], kPublishedNorm12[r][i]) << "norm-12 row " << r << ", coordinate " << i;
  uint64_t h = 0xcbf29ce484222325ull;
  for (const auto& row : t)
    for (int8_t b : row) h = (h ^ uint8_t(b)) * 0x100000001b3ull;
  EXPECT_EQ(h, 0x9176b4750b6d94efull);
}

TEST(QuantE8P, Decodes65536DistinctPointsOfE8PlusQuarter) {
  const auto pts = DecodeAll();
  std::set<std::array<double, 8>> distinct(pts.begin(), pts.end());
  EXPECT_EQ(distinct.size(), size_t(e8p::kNumPoints));
  for (const auto& c : pts) {
    // c − ¼𝟙 ∈ E8 = D8 ∪ (D8 + ½𝟙): all integers or all in Z + ½, with even sum.
    double sum = 0;
    bool all_int = true, all_half = true;
    for (double v : c) {
      const double y = v - 0.25;
      sum += y;
      all_int &= y == std::floor(y);
      all_half &= (y - 0.5) == std::floor(y - 0.5);
    }
    ASSERT_TRUE(all_int || all_half);
    ASSERT_EQ(std::fmod(std::fabs(sum), 2.0), 0.0);
  }
  // The same set as the definition, enumerated directly.
  std::vector<std::array<double, 8>> sorted(distinct.begin(), distinct.end());
  EXPECT_EQ(sorted, e8p::EnumerateDirect());
}

TEST(QuantE8P, EncodeInvertsDecodeAndNearestIsIdentityOnPoints) {
  for (int i = 0; i < e8p::kNumPoints; ++i) {
    double c[8];
    e8p::Decode(uint16_t(i), c);
    uint16_t idx = 0;
    ASSERT_TRUE(e8p::Encode(c, &idx)) << i;
    ASSERT_EQ(idx, i);
    ASSERT_EQ(e8p::Nearest(c), i);
    float cf[8];
    e8p::Decode(uint16_t(i), cf);
    for (int k = 0; k < 8; ++k) ASSERT_EQ(double(cf[k]), c[k]);
  }
  const double off[8] = {0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.5};
  uint16_t idx;
  EXPECT_FALSE(e8p::Encode(off, &idx));
  const double far[8] = {3.75, 3.75, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25};  // norm too large
  EXPECT_FALSE(e8p::Encode(far, &idx));
}

TEST(QuantE8P, NearestMatchesBruteForce) {
  const auto pts = DecodeAll();
  int exact = 0, total = 0;
  for (double scale : {0.5, 1.2, 3.0}) {
    const Eigen::MatrixXd x = testing::RandomGaussian(8, 700, uint64_t(scale * 100)) * scale;
    for (int v = 0; v < x.cols(); ++v) {
      double best = 1e300;
      int best_i = -1;
      for (int i = 0; i < e8p::kNumPoints; ++i) {
        double d = 0;
        for (int k = 0; k < 8; ++k) d += (x(k, v) - pts[i][k]) * (x(k, v) - pts[i][k]);
        if (d < best) best = d, best_i = i;
      }
      double q[8];
      const uint16_t got = e8p::Nearest(x.col(v).data(), q);
      double dq = 0;
      for (int k = 0; k < 8; ++k) {
        ASSERT_EQ(q[k], pts[got][k]);
        dq += (x(k, v) - q[k]) * (x(k, v) - q[k]);
      }
      ASSERT_LE(dq, best + 1e-12) << "vector " << v;
      exact += got == best_i;
      ++total;
    }
  }
  EXPECT_EQ(exact, total);  // no ties among continuous random inputs
}

// Inputs on the quarter grid tie several candidates: Nearest keeps the first in its search
// order (shift −¼ first, then table order), pinned here to the indices of the scan that
// kept the best so far (quip before the cost vector and minimum search, checked equal on
// 4M vectors); a non-finite input still returns (entry 0, as that scan did).
TEST(QuantE8P, NearestTiesAndNonFiniteInputs) {
  const double zero[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  const double quarter[8] = {0.25, -0.25, 0.5, 0, 0.75, -0.5, 0.25, 0};
  const double half[8] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
  EXPECT_EQ(e8p::Nearest(zero), 0);
  EXPECT_EQ(e8p::Nearest(quarter), 68);
  EXPECT_EQ(e8p::Nearest(half), 0);
  for (double bad : {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN()}) {
    double x[8] = {0, 0, 0, bad, 0, 0, 0, 0};
    EXPECT_EQ(e8p::Nearest(x) >> 8, 0) << bad;
  }
}

// NearestBatch rounds eight vectors per pass, one per SIMD lane: each vector's index must
// not depend on its neighbours, its lane or the batch length. Quarter-grid inputs (full of
// ties), Gaussians and a non-finite vector mixed in one batch, against one-by-one calls, and
// every batch length 1..17 at every offset.
TEST(QuantE8P, NearestBatchEqualsOneByOneInEveryLane) {
  const int count = 301;
  Eigen::MatrixXd x = testing::RandomGaussian(8, count, 77);
  for (int v = 0; v < count; v += 3)
    for (int k = 0; k < 8; ++k) x(k, v) = std::round(4 * x(k, v)) / 4;  // ties
  x(2, 100) = std::numeric_limits<double>::quiet_NaN();
  x(5, 200) = std::numeric_limits<double>::infinity();
  std::vector<uint16_t> one(count), batch(count);
  for (int v = 0; v < count; ++v) one[v] = e8p::Nearest(x.col(v).data());
  e8p::NearestBatch(x.data(), count, batch.data());
  EXPECT_EQ(batch, one);
  for (int len = 1; len <= 17; ++len)
    for (int v0 = 0; v0 + len <= 40; ++v0) {
      std::vector<uint16_t> part(len);
      e8p::NearestBatch(x.col(v0).data(), len, part.data());
      for (int k = 0; k < len; ++k) ASSERT_EQ(part[k], one[v0 + k]) << "batch of " << len << " at " << v0;
    }
}

// Exact MSE of a symmetric scalar quantizer with the given reconstruction levels (sorted)
// and nearest-neighbour cells on N(0, 1).
double ScalarMse(const std::vector<double>& levels) {
  auto Phi = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
  auto phi = [](double x) { return std::isinf(x) ? 0.0 : std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI); };
  auto xphi = [&](double x) { return std::isinf(x) ? 0.0 : x * phi(x); };
  double mse = 0;
  for (size_t i = 0; i < levels.size(); ++i) {
    const double a = i == 0 ? -INFINITY : 0.5 * (levels[i - 1] + levels[i]);
    const double b = i + 1 == levels.size() ? INFINITY : 0.5 * (levels[i] + levels[i + 1]);
    const double c = levels[i];
    // ∫_a^b (x − c)² φ = [Φ − xφ]_a^b + 2c[φ]_a^b + c²[Φ]_a^b
    mse += (Phi(b) - Phi(a)) - (xphi(b) - xphi(a)) + 2 * c * (phi(b) - phi(a)) + c * c * (Phi(b) - Phi(a));
  }
  return mse;
}

// Best uniform 4-level grid {±δ/2, ±3δ/2} (QuIP's scalar 2-bit grid at its best scale).
double BestUniform4(double* step) {
  double lo = 0.5, hi = 1.5;
  for (int it = 0; it < 100; ++it) {
    const double m1 = lo + (hi - lo) / 3, m2 = hi - (hi - lo) / 3;
    if (ScalarMse({-1.5 * m1, -0.5 * m1, 0.5 * m1, 1.5 * m1}) < ScalarMse({-1.5 * m2, -0.5 * m2, 0.5 * m2, 1.5 * m2}))
      hi = m2;
    else
      lo = m1;
  }
  *step = 0.5 * (lo + hi);
  return ScalarMse({-1.5 * *step, -0.5 * *step, 0.5 * *step, 1.5 * *step});
}

// Lloyd–Max 4-level quantizer (the best scalar 2-bit quantizer of a Gaussian).
double LloydMax4() {
  std::vector<double> c = {-1.5, -0.5, 0.5, 1.5};
  auto Phi = [](double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); };
  auto phi = [](double x) { return std::isinf(x) ? 0.0 : std::exp(-0.5 * x * x) / std::sqrt(2.0 * M_PI); };
  for (int it = 0; it < 500; ++it) {
    std::vector<double> next(4);
    for (int i = 0; i < 4; ++i) {
      const double a = i == 0 ? -INFINITY : 0.5 * (c[i - 1] + c[i]);
      const double b = i == 3 ? INFINITY : 0.5 * (c[i] + c[i + 1]);
      next[i] = (phi(a) - phi(b)) / (Phi(b) - Phi(a));  // E[x | a < x < b]
    }
    c = next;
  }
  return ScalarMse(c);
}

TEST(QuantE8P, MseOnGaussianBeatsScalarGrid) {
  const int nvec = MseVectors(1 << 14);
  double e8p_mse = 0;
  const double rho = TuneRho([](double r) { return std::make_unique<E8PCodebook>(r); }, 0.6, 1.2, nvec, 11, &e8p_mse);
  double step = 0;
  const double uniform = BestUniform4(&step);
  const double lloyd = LloydMax4();
  const double bound = std::pow(2.0, -2.0 * 2);
  std::printf("2-bit MSE per weight on N(0,1): E8P %.5f (scale %.3f, %d vectors) | best uniform 4-level grid %.5f "
              "(step %.4f) | Lloyd-Max 4-level %.5f | rate-distortion bound 2^-4 = %.5f\n",
              e8p_mse, rho, nvec, uniform, step, lloyd, bound);
  EXPECT_NEAR(uniform, 0.1188, 2e-4);
  EXPECT_NEAR(lloyd, 0.1175, 2e-4);
  EXPECT_LT(e8p_mse, lloyd);
  EXPECT_LT(e8p_mse, 0.095);
  EXPECT_GT(e8p_mse, bound);
  EXPECT_NEAR(rho, kE8PRho, 0.05);
  EXPECT_NEAR(e8p::GaussianMse(kE8PRho, nvec, 11), GaussianMse(E8PCodebook(kE8PRho), nvec, 11), 1e-12);
}

}  // namespace
}  // namespace quip
