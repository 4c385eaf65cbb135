// Rounding algorithms on grid-unit problems: the LDL factor, LDLQ ≡ OPTQ (QuIP
// Theorem 6 / §3: identical codes), LDLQ's closed-form loss tr(η D ηᵀ), LDLQ ≤ nearest,
// unbiasedness of stochastic LDLQ, and LDLQ-RG ≤ LDLQ.
#include "quant/rounding.h"

#include <gtest/gtest.h>

#include "quant_test_util.h"

namespace quip {
namespace {

// Grid-unit targets centred in a huge grid (maxq = 2^20) so nothing ever clamps.
constexpr int kWideMaxq = 1 << 20;

struct Problem {
  std::string name;
  Eigen::MatrixXd x, h;
  int maxq = kWideMaxq;
};

std::vector<Problem> UnclampedProblems() {
  std::vector<Problem> p;
  const auto centred = [](int m, int n, uint64_t seed) -> Eigen::MatrixXd {
    return (testing::RandomGaussian(m, n, seed) * 3.0).array() + double(kWideMaxq / 2);
  };
  p.push_back({"correlated 32x64", centred(32, 64, 1), testing::RandomHessian(64, 2)});
  p.push_back({"correlated 16x200 (two blocks)", centred(16, 200, 3), testing::RandomHessian(200, 4)});
  p.push_back({"low-rank+damping 24x96", centred(24, 96, 5),
               testing::RandomHessian(96, 6, 40) + 1e-3 * Eigen::MatrixXd::Identity(96, 96)});
  p.push_back({"ill-conditioned 1e6 20x80", centred(20, 80, 7), testing::IllConditionedHessian(80, 1e6, 8)});
  p.push_back({"ill-conditioned 1e9 12x50", centred(12, 50, 9), testing::IllConditionedHessian(50, 1e9, 10)});
  return p;
}

TEST(QuantLdl, ReconstructsHessian) {
  for (const Problem& p : UnclampedProblems()) {
    LdlFactor f;
    ASSERT_TRUE(ComputeLdl(p.h, &f)) << p.name;
    const int n = p.h.rows();
    EXPECT_EQ(f.u.triangularView<Eigen::Lower>().toDenseMatrix().cwiseAbs().maxCoeff(), 0.0) << p.name;
    const Eigen::MatrixXd unit = f.u + Eigen::MatrixXd::Identity(n, n);
    const Eigen::MatrixXd back = unit * f.d.asDiagonal() * unit.transpose();
    EXPECT_LT((back - p.h).cwiseAbs().maxCoeff(), 1e-12 * p.h.cwiseAbs().maxCoeff()) << p.name;
  }
  LdlFactor f;
  EXPECT_FALSE(ComputeLdl(-Eigen::MatrixXd::Identity(4, 4), &f));
}

TEST(QuantLdlq, MatchesOptqCodesExactly) {
  for (const Problem& p : UnclampedProblems()) {
    LdlFactor f;
    Eigen::MatrixXd r;
    ASSERT_TRUE(ComputeLdl(p.h, &f));
    ASSERT_TRUE(ComputeOptqFactor(p.h, &r));
    const Eigen::MatrixXd a = RoundLdlq(p.x, f, kWideMaxq, false, 0), b = RoundOptq(p.x, r, kWideMaxq);
    EXPECT_EQ((a - b).cwiseAbs().maxCoeff(), 0.0) << p.name;
  }
}

TEST(QuantLdlq, MatchesOptqCodesWithClamping) {
  // 2- and 4-bit grids: clamping happens, the equivalence holds for any Q.
  for (int bits : {2, 4}) {
    const int maxq = (1 << bits) - 1, n = 96;
    const Eigen::MatrixXd x = (testing::RandomGaussian(24, n, 20 + bits).array() * 0.3 * maxq + 0.5 * maxq).matrix();
    const Eigen::MatrixXd h = testing::RandomHessian(n, 30 + bits);
    LdlFactor f;
    Eigen::MatrixXd r;
    ASSERT_TRUE(ComputeLdl(h, &f));
    ASSERT_TRUE(ComputeOptqFactor(h, &r));
    const Eigen::MatrixXd xc = x.cwiseMax(0.0).cwiseMin(double(maxq));
    EXPECT_EQ((RoundLdlq(xc, f, maxq, false, 0) - RoundOptq(xc, r, maxq)).cwiseAbs().maxCoeff(), 0.0) << bits;
  }
}

TEST(QuantLdlq, LossEqualsTraceEtaDEtaWithoutClamping) {
  // Theorem 1's identity: Ŵ − X = η(Û+I)⁻¹, so the loss is tr(η D ηᵀ).
  for (const Problem& p : UnclampedProblems()) {
    LdlFactor f;
    ASSERT_TRUE(ComputeLdl(p.h, &f));
    const Eigen::MatrixXd c = RoundLdlq(p.x, f, kWideMaxq, false, 0);
    const Eigen::MatrixXd eta = c - (p.x + (p.x - c) * f.u);
    EXPECT_LE(eta.cwiseAbs().maxCoeff(), 0.5 + 1e-6) << p.name;
    const double closed = (eta * f.d.asDiagonal()).cwiseProduct(eta).sum();
    EXPECT_NEAR(GridLoss(c, p.x, p.h), closed, 1e-6 * closed) << p.name;
  }
}

TEST(QuantLdlq, NeverWorseThanNearest) {
  std::vector<Problem> problems = UnclampedProblems();
  // Plus clamped 2/3/4-bit problems, damped as Algorithm 1 step 1 does. (Undamped,
  // these Hessians have D spanning 3 decades and LDLQ's feedback drives many targets
  // off the grid: clamped LDLQ then loses to nearest by 2-6x, the paper's §7 caveat.)
  for (int bits : {2, 3, 4}) {
    const int maxq = (1 << bits) - 1;
    for (uint64_t seed : {1, 2, 3}) {
      const Eigen::MatrixXd x =
          (testing::RandomGaussian(32, 128, 40 + seed).array() * 0.25 * maxq + 0.5 * maxq).cwiseMax(0.0).cwiseMin(maxq);
      Eigen::MatrixXd h = testing::RandomHessian(128, 50 + seed);
      h.diagonal().array() += 0.01 * h.diagonal().mean();
      problems.push_back({"clamped " + std::to_string(bits) + "b seed " + std::to_string(seed), x, h, maxq});
    }
  }
  for (const Problem& p : problems) {
    const int maxq = p.maxq;
    LdlFactor f;
    ASSERT_TRUE(ComputeLdl(p.h, &f));
    const double near = GridLoss(RoundNearest(p.x, maxq), p.x, p.h);
    const double ldlq = GridLoss(RoundLdlq(p.x, f, maxq, false, 0), p.x, p.h);
    EXPECT_LE(ldlq, near) << p.name;
  }
}

TEST(QuantLdlq, StochasticRoundingIsUnbiased) {
  // Ŵ − X = η(Û+I)⁻¹ with E[η | past] = 0, so E[Ŵ] = X entry by entry.
  const int m = 16, n = 48, trials = 400;
  const Eigen::MatrixXd x = (testing::RandomGaussian(m, n, 61).array() * 2.0 + 100.0).matrix();
  LdlFactor f;
  ASSERT_TRUE(ComputeLdl(testing::RandomHessian(n, 62) + 0.05 * Eigen::MatrixXd::Identity(n, n), &f));
  Eigen::MatrixXd sum = Eigen::MatrixXd::Zero(m, n), sum2 = Eigen::MatrixXd::Zero(m, n);
  std::vector<double> trial_means;
  for (int t = 0; t < trials; ++t) {
    const Eigen::MatrixXd e = RoundLdlq(x, f, 1000, true, 1000 + t) - x;
    sum += e;
    sum2 += e.cwiseAbs2();
    trial_means.push_back(e.mean());
  }
  // Overall mean: trials are independent, so a z-test on the per-trial means.
  double mu = 0, var = 0;
  for (double v : trial_means) mu += v / trials;
  for (double v : trial_means) var += (v - mu) * (v - mu) / (trials - 1);
  EXPECT_LT(std::abs(mu), 4.0 * std::sqrt(var / trials));
  // Entry by entry: with no bias, E[mean_ij²] = var_ij / trials, so this ratio is ≈ 1
  // (a bias of even 0.05 per entry would push it well above 1.3).
  const Eigen::MatrixXd mean = sum / trials;
  const Eigen::MatrixXd entry_var = (sum2 / trials - mean.cwiseAbs2()) * (double(trials) / (trials - 1));
  const double ratio = mean.cwiseAbs2().sum() * trials / entry_var.sum();
  EXPECT_GT(ratio, 0.7);
  EXPECT_LT(ratio, 1.3);
  // And it is real noise, not nearest rounding in disguise.
  EXPECT_GT(entry_var.mean(), 0.05);
}

TEST(QuantLdlqRg, NeverWorseThanLdlq) {
  for (int bits : {2, 3, 4}) {
    const int maxq = (1 << bits) - 1, n = 128;
    for (uint64_t seed : {1, 2}) {
      const Eigen::MatrixXd x =
          (testing::RandomGaussian(32, n, 70 + seed).array() * 0.25 * maxq + 0.5 * maxq).cwiseMax(0.0).cwiseMin(maxq);
      const Eigen::MatrixXd h = testing::RandomHessian(n, 80 + seed);
      Rounder ldlq(Rounding::kLdlq, 0), rg(Rounding::kLdlqRg, 4);
      ASSERT_TRUE(ldlq.Prepare(h));
      ASSERT_TRUE(rg.Prepare(h));
      const double l_ldlq = GridLoss(ldlq.Round(x, maxq, 0), x, h);
      const Eigen::MatrixXd c_rg = rg.Round(x, maxq, 0);
      EXPECT_LE(GridLoss(c_rg, x, h), l_ldlq * (1 + 1e-12)) << bits << " bits";
      EXPECT_GE(c_rg.minCoeff(), 0.0);
      EXPECT_LE(c_rg.maxCoeff(), maxq);
    }
  }
}

TEST(QuantGreedyRefine, IsALocalOptimumAndDecreasesLoss) {
  const int maxq = 3, n = 40;
  const Eigen::MatrixXd x = (testing::RandomGaussian(8, n, 90).array() * 0.8 + 1.5).cwiseMax(0.0).cwiseMin(maxq);
  const Eigen::MatrixXd h = testing::RandomHessian(n, 91);
  Eigen::MatrixXd c = RoundNearest(x, maxq);
  const double before = GridLoss(c, x, h);
  GreedyRefine(x, h, maxq, 1000, &c);
  const double after = GridLoss(c, x, h);
  EXPECT_LT(after, before);
  // No single ±1 move improves the (fully recomputed) loss any more.
  for (int r = 0; r < c.rows(); ++r)
    for (int k = 0; k < n; ++k)
      for (double d : {-1.0, 1.0}) {
        Eigen::MatrixXd t = c;
        t(r, k) += d;
        if (t(r, k) < 0 || t(r, k) > maxq) continue;
        EXPECT_GE(GridLoss(t, x, h), after - 1e-9 * after);
      }
}

}  // namespace
}  // namespace quip
