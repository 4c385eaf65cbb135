// QuantizeMatrix end to end: the pre/post-processing pair is an exact inverse,
// Dequantize follows the formula of quantized_matrix.h, incoherence lowers μ and
// rescues nearest rounding from outliers, adaptive rounding beats nearest, and bad
// input is reported by name.
#include "quant/quantize.h"

#include <gtest/gtest.h>

#include <tuple>

#include <cstdio>

#include <cmath>
#include <limits>
#include <map>
#include <random>

#include "core/error.h"
#include "core/parallel.h"
#include "core/phase_profile.h"
#include "format/kronecker.h"
#include "quant/layer_transform.h"
#include "quant_test_util.h"

namespace quip {
namespace {

QuantConfig Config(int bits, Rounding rounding, bool incoherence, bool rescale) {
  QuantConfig c;
  c.bits = bits;
  c.rounding = rounding;
  c.incoherence = incoherence;
  c.rescale = rescale;
  c.seed = 17;
  return c;
}

TEST(QuantizeMatrix, PostprocessingInvertsPreprocessing) {
  const int m = 48, n = 60;
  const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 1) * 0.02;
  const std::vector<float> wf = testing::ToRowMajorFloats(w);
  const Eigen::MatrixXd h = testing::RandomHessian(n, 2);
  for (bool inc : {false, true})
    for (bool resc : {false, true}) {
      const QuantizedMatrix q = QuantizeMatrix(wf.data(), m, n, h, Config(2, Rounding::kLdlq, inc, resc), nullptr);
      const LayerTransform t = TransformOf(q);
      // No rounding and no clipping in between: the pair is an exact inverse.
      const Eigen::MatrixXd x = ToGrid(w, t);
      EXPECT_LT((FromGrid(x, t) - w).cwiseAbs().maxCoeff(), 1e-9 * w.cwiseAbs().maxCoeff())
          << "incoherence " << inc << " rescale " << resc;
      // And the codes were rounded from that same x: within half a step (plus
      // feedback) of it, never outside the grid.
      EXPECT_EQ(q.codes.size(), size_t(m) * n);
      for (uint8_t c : q.codes) ASSERT_LE(c, 3);
    }
}

TEST(QuantizeMatrix, DequantizeFollowsTheContractFormula) {
  // W_hat = Uᵀ G V diag(1/rescale) with U, V built densely, independent of the fast apply.
  const int m = 24, n = 36;
  const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 3);
  const std::vector<float> wf = testing::ToRowMajorFloats(w);
  const QuantizedMatrix q =
      QuantizeMatrix(wf.data(), m, n, testing::RandomHessian(n, 4), Config(3, Rounding::kLdlq, true, true), nullptr);
  ASSERT_TRUE(q.incoherence.incoherent);
  ASSERT_EQ(q.incoherence.rescale.size(), size_t(n));
  Eigen::MatrixXd g(m, n);
  for (int r = 0; r < m; ++r) {
    EXPECT_FLOAT_EQ(q.row_zero[r], 3.5f);
    EXPECT_EQ(q.row_scale[r], q.row_scale[0]);
    for (int c = 0; c < n; ++c) g(r, c) = double(q.row_scale[r]) * (double(q.codes[r * n + c]) - q.row_zero[r]);
  }
  const Eigen::MatrixXd u = KroneckerTransform(m, q.incoherence.seed_u).Dense(), v = KroneckerTransform(n, q.incoherence.seed_v).Dense();
  Eigen::VectorXd inv(n);
  for (int c = 0; c < n; ++c) inv[c] = 1.0 / q.incoherence.rescale[c];
  const Eigen::MatrixXd expected = u.transpose() * g * v * inv.asDiagonal();
  EXPECT_LT((Dequantize(q) - expected).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(QuantizeMatrix, MinMaxGridWithoutIncoherence) {
  const int m = 8, n = 20;
  const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 5);
  const std::vector<float> wf = testing::ToRowMajorFloats(w);
  const QuantizedMatrix q = QuantizeMatrix(wf.data(), m, n, Eigen::MatrixXd::Identity(n, n),
                                           Config(4, Rounding::kNearest, false, false), nullptr);
  EXPECT_FALSE(q.incoherence.incoherent);
  EXPECT_TRUE(q.incoherence.rescale.empty());
  const Eigen::MatrixXd wd = testing::FloatRounded(w);
  for (int r = 0; r < m; ++r) {
    const double lo = std::min(0.0, wd.row(r).minCoeff()), hi = std::max(0.0, wd.row(r).maxCoeff());
    EXPECT_NEAR(q.row_scale[r], (hi - lo) / 15.0, 1e-6 * (hi - lo));
    EXPECT_EQ(q.row_zero[r], std::nearbyint(-lo / q.row_scale[r]));
  }
  // Nearest rounding on a per-row grid: every weight within half a step.
  const Eigen::MatrixXd back = Dequantize(q);
  for (int r = 0; r < m; ++r)
    EXPECT_LE((back.row(r) - wd.row(r)).cwiseAbs().maxCoeff(), 0.5 * q.row_scale[r] * (1 + 1e-6));
}

// Weights with one 8σ outlier in every row (so OPTQ's per-row min/max grid is wide)
// and a Hessian with one huge outlier direction along a coordinate axis (an outlier
// input feature): coherent in both senses.
struct OutlierProblem {
  Eigen::MatrixXd w, h;
};
OutlierProblem MakeOutlierProblem(int m, int n) {
  OutlierProblem p;
  p.w = testing::RandomGaussian(m, n, 6) * 0.02;
  std::mt19937_64 rng(3);
  for (int r = 0; r < m; ++r) p.w(r, 12 + rng() % (n - 12)) = (rng() % 2 ? 8.0 : -8.0) * 0.02;
  p.h = testing::RandomHessian(n, 8);
  p.h(11, 11) += 1e3 * p.h.diagonal().mean();
  return p;
}

TEST(QuantizeMatrix, IncoherenceLowersMu) {
  const int m = 64, n = 96;
  const OutlierProblem p = MakeOutlierProblem(m, n);
  const std::vector<float> wf = testing::ToRowMajorFloats(p.w);
  QuantStats s;
  QuantizeMatrix(wf.data(), m, n, p.h, Config(2, Rounding::kLdlq, true, false), &s);
  EXPECT_NEAR(s.mu_w_before, IncoherenceMuW(testing::FloatRounded(p.w)), 1e-12);
  // Haar-random rotations leave μ ≈ √(2 log(size²)) ≈ 4–5 at these sizes.
  EXPECT_LT(s.mu_w_after, 0.75 * s.mu_w_before) << s.mu_w_before << " -> " << s.mu_w_after;
  EXPECT_LT(s.mu_h_after, 0.6 * s.mu_h_before) << s.mu_h_before << " -> " << s.mu_h_after;
  // Closed forms of the definitions: a diagonal H has μ_H = √n, a constant W μ_W = 1.
  EXPECT_NEAR(IncoherenceMuH(Eigen::VectorXd::LinSpaced(n, 1, 2).asDiagonal().toDenseMatrix()), std::sqrt(n), 1e-12);
  EXPECT_NEAR(IncoherenceMuW(Eigen::MatrixXd::Constant(3, 4, -2.0)), 1.0, 1e-12);
}

TEST(QuantizeMatrix, IncoherenceWinsWideOnOutliers) {
  // Nearest rounding gains through the grid (the weight outliers no longer set the
  // range); LDLQ gains far more, because a coordinate-aligned outlier direction in H is
  // exactly the coherent case where LDLQ can do no better than nearest (Theorem 4).
  const int m = 64, n = 96;
  const OutlierProblem p = MakeOutlierProblem(m, n);
  const std::vector<float> wf = testing::ToRowMajorFloats(p.w);
  for (int bits : {2, 3}) {
    QuantStats near, near_inc, ldlq, ldlq_inc;
    QuantizeMatrix(wf.data(), m, n, p.h, Config(bits, Rounding::kNearest, false, false), &near);
    QuantizeMatrix(wf.data(), m, n, p.h, Config(bits, Rounding::kNearest, true, false), &near_inc);
    QuantizeMatrix(wf.data(), m, n, p.h, Config(bits, Rounding::kLdlq, false, false), &ldlq);
    QuantizeMatrix(wf.data(), m, n, p.h, Config(bits, Rounding::kLdlq, true, false), &ldlq_inc);
    // Measured: near 2.8x / 2.3x, ldlq 17x / 11x at 2 / 3 bits.
    EXPECT_LT(near_inc.proxy_loss * (bits == 2 ? 2.0 : 1.6), near.proxy_loss)
        << bits << " bits: near " << near.relative_proxy_loss << " near+inc " << near_inc.relative_proxy_loss;
    EXPECT_LT(ldlq_inc.proxy_loss * 5.0, ldlq.proxy_loss)
        << bits << " bits: ldlq " << ldlq.relative_proxy_loss << " ldlq+inc " << ldlq_inc.relative_proxy_loss;
  }
}

TEST(QuantizeMatrix, AdaptiveRoundingBeatsNearestEndToEnd) {
  const int m = 64, n = 128;
  const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 9) * 0.02;
  const std::vector<float> wf = testing::ToRowMajorFloats(w);
  const Eigen::MatrixXd h = testing::RandomHessian(n, 10);
  for (int bits : {2, 3, 4})
    for (bool inc : {false, true}) {
      QuantStats near, ldlq, optq, rg;
      QuantizeMatrix(wf.data(), m, n, h, Config(bits, Rounding::kNearest, inc, true), &near);
      QuantizeMatrix(wf.data(), m, n, h, Config(bits, Rounding::kLdlq, inc, true), &ldlq);
      QuantizeMatrix(wf.data(), m, n, h, Config(bits, Rounding::kOptq, inc, true), &optq);
      QuantizeMatrix(wf.data(), m, n, h, Config(bits, Rounding::kLdlqRg, inc, true), &rg);
      EXPECT_LT(ldlq.proxy_loss, near.proxy_loss) << bits << " bits, incoherence " << inc;
      EXPECT_NEAR(optq.proxy_loss, ldlq.proxy_loss, 1e-9 * ldlq.proxy_loss) << bits << " bits, incoherence " << inc;
      EXPECT_LT(rg.proxy_loss, near.proxy_loss) << bits << " bits, incoherence " << inc;
      EXPECT_LT(ldlq.relative_proxy_loss, bits == 4 ? 0.02 : 0.5);
      EXPECT_TRUE(ldlq.note.empty()) << ldlq.note;
    }
}

TEST(QuantizeMatrix, RangeTuningNeverLosesToTheDefaultRho) {
  const int m = 48, n = 64;
  const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 11);
  const std::vector<float> wf = testing::ToRowMajorFloats(w);
  // Undamped, well-conditioned H: the tuning criterion is then exactly the reported loss.
  const Eigen::MatrixXd h = testing::RandomHessian(n, 12) + 0.1 * Eigen::MatrixXd::Identity(n, n);
  for (int bits : {2, 4}) {
    QuantConfig c = Config(bits, Rounding::kLdlq, true, true);
    c.damping = 0.0;
    QuantStats fixed, tuned;
    QuantizeMatrix(wf.data(), m, n, h, c, &fixed);
    c.range_tuning = true;
    QuantizeMatrix(wf.data(), m, n, h, c, &tuned);
    EXPECT_EQ(fixed.rho, DefaultRho(bits));
    EXPECT_LE(tuned.proxy_loss, fixed.proxy_loss * (1 + 1e-9)) << bits << " bits, tuned rho " << tuned.rho;
  }
}

TEST(QuantizeMatrix, IsDeterministicGivenTheSeed) {
  const int m = 16, n = 24;
  const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 13);
  const std::vector<float> wf = testing::ToRowMajorFloats(w);
  const Eigen::MatrixXd h = testing::RandomHessian(n, 14);
  QuantConfig c = Config(2, Rounding::kStochastic, true, true);
  const QuantizedMatrix a = QuantizeMatrix(wf.data(), m, n, h, c, nullptr);
  const QuantizedMatrix b = QuantizeMatrix(wf.data(), m, n, h, c, nullptr);
  EXPECT_EQ(a.codes, b.codes);
  EXPECT_EQ(a.incoherence.seed_u, b.incoherence.seed_u);
  EXPECT_NE(a.incoherence.seed_u, a.incoherence.seed_v);
  c.seed = 18;
  const QuantizedMatrix d = QuantizeMatrix(wf.data(), m, n, h, c, nullptr);
  EXPECT_NE(a.incoherence.seed_v, d.incoherence.seed_v);
  EXPECT_NE(a.codes, d.codes);
}

TEST(QuantizeMatrix, DeadInputsAreZeroedNotFatal) {
  const int m = 12, n = 20;
  const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 15);
  const std::vector<float> wf = testing::ToRowMajorFloats(w);
  Eigen::MatrixXd h = testing::RandomHessian(n, 16);
  h.row(4).setZero();
  h.col(4).setZero();
  QuantStats s;
  const QuantizedMatrix q = QuantizeMatrix(wf.data(), m, n, h, Config(4, Rounding::kLdlq, false, true), &s);
  EXPECT_NE(s.note.find("1 dead input"), std::string::npos) << s.note;
  // Column 4 was zeroed before the grid and rounding, and 0 is on OPTQ's min/max grid.
  EXPECT_LT(Dequantize(q).col(4).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_TRUE(std::isfinite(s.proxy_loss));
}

TEST(QuantizeMatrix, SingularHessianRetriesWithMoreDamping) {
  const int m = 8, n = 32;
  const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 17);
  const std::vector<float> wf = testing::ToRowMajorFloats(w);
  // Rank 4 (4 tokens) and no damping: the Cholesky must fail, then succeed when damped.
  const Eigen::MatrixXd x = testing::RandomGaussian(n, 4, 18);
  const Eigen::MatrixXd h = x * x.transpose();
  QuantConfig c = Config(2, Rounding::kLdlq, true, true);
  c.damping = 0.0;
  QuantStats s;
  const QuantizedMatrix q = QuantizeMatrix(wf.data(), m, n, h, c, &s);
  EXPECT_TRUE(s.damping_retried);
  EXPECT_GT(s.damping, 0.0);
  EXPECT_NE(s.note.find("damping raised"), std::string::npos) << s.note;
  EXPECT_TRUE(Dequantize(q).allFinite());
}

TEST(QuantizeMatrix, RejectsNonFiniteAndMalformedInput) {
  const int m = 4, n = 6;
  std::vector<float> wf = testing::ToRowMajorFloats(testing::RandomGaussian(m, n, 19));
  Eigen::MatrixXd h = Eigen::MatrixXd::Identity(n, n);
  const QuantConfig c;
  const auto message = [&](const std::vector<float>& w, const Eigen::MatrixXd& hh, const QuantConfig& cfg) {
    try {
      QuantizeMatrix(w.data(), m, n, hh, cfg, nullptr);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  std::vector<float> bad_w = wf;
  bad_w[7] = std::numeric_limits<float>::infinity();
  EXPECT_NE(message(bad_w, h, c).find("weight"), std::string::npos);
  Eigen::MatrixXd bad_h = h;
  bad_h(2, 3) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NE(message(wf, bad_h, c).find("Hessian"), std::string::npos);
  EXPECT_NE(message(wf, Eigen::MatrixXd::Identity(n + 1, n + 1), c).find("Hessian"), std::string::npos);
  QuantConfig five;
  five.bits = 5;
  EXPECT_NE(message(wf, h, five).find("bits"), std::string::npos);
}

TEST(QuantRounding, NamesRoundTrip) {
  for (Rounding r : {Rounding::kNearest, Rounding::kStochastic, Rounding::kLdlq, Rounding::kOptq, Rounding::kLdlqRg})
    EXPECT_EQ(ParseRounding(RoundingName(r)), r);
  EXPECT_THROW(ParseRounding("gptq"), Error);
}

// The reported denominator tr(WHWᵀ) from float Gram panels (HessianTraceFloatPanels) against
// the dense double definition, on Hessians of the calibration's form (XᵀX/N, positive
// semi-definite) and shapes up to one 0.38B linear's width: measured relative error 1e-8 to
// 1e-7 (float's 24-bit products summed over m rows, each panel's sum in double).
TEST(QuantProxyLoss, FloatPanelTraceIsWithin1e6OfTheDoubleTrace) {
  for (auto [m, n, tokens] : {std::tuple{64, 300, 500}, std::tuple{512, 257, 100}, std::tuple{2048, 1024, 1500}}) {
    const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 41);
    const Eigen::MatrixXd x = testing::RandomGaussian(tokens, n, 42);
    const Eigen::MatrixXd h = x.transpose() * x / double(tokens);
    const double reference = (w * h * w.transpose()).trace();
    const double got = HessianTraceFloatPanels(w, h);
    const double relative = std::abs(got - reference) / reference;
    std::printf("%dx%d: tr(WHWᵀ) %.9g, float panels relative error %.2e (double panels %.2e)\n", m, n, reference,
                relative, std::abs(HessianTrace(w, h) - reference) / reference);
    EXPECT_LT(relative, 1e-6) << m << "x" << n;
  }
}

}  // namespace
}  // namespace quip

namespace quip {
namespace {

// The profile's FLOP counts are the closed forms of the shapes (issue 19), computed here
// by hand for m = 48, n = 64 (Kronecker split 8·8 for both) with LDLQ.
TEST(QuantizeMatrix, ProfileRecordsPhasesWithClosedFormFlops) {
  const int m = 48, n = 64;
  const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 5) * 0.02;
  const std::vector<float> wf = testing::ToRowMajorFloats(w);
  PhaseProfile profile;
  QuantStats stats;
  {
    const ActiveProfile active(&profile);
    QuantizeMatrix(wf.data(), m, n, testing::RandomHessian(n, 6), Config(2, Rounding::kLdlq, true, true), &stats);
  }
  std::map<std::string, PhaseProfile::Entry> e;
  for (const auto& [name, entry] : profile.Entries()) e[name] = entry;
  ASSERT_EQ(e.count("preprocess"), 1u);
  // U on 64 columns of length 48 (split 6·8: 2·48·14 each), V on 48 rows and twice on H's 64.
  const double u = 2.0 * 48 * (6 + 8), v = 2.0 * 64 * (8 + 8);
  EXPECT_DOUBLE_EQ(e["preprocess"].flop, n * u + m * v + 2.0 * n * v);
  EXPECT_DOUBLE_EQ(e["factor"].flop, double(n) * n * n / 3);
  EXPECT_DOUBLE_EQ(e["rounding"].flop, double(m) * n * n);
  EXPECT_EQ(e["factor"].calls, 1);
  EXPECT_EQ(e["rounding"].calls, 1);
  EXPECT_EQ(e.count("diagnostics"), 1u);
  EXPECT_EQ(e.count("diagnostics_mu_h"), 1u) << "n ≤ mu_h_max_dim";
  EXPECT_TRUE(e["rounding"].thread_seconds);
}

}  // namespace
}  // namespace quip

namespace quip {
namespace {

// ProxyLoss as ⟨H, ΔᵀΔ⟩ from one SYRK triangle equals the definition tr(ΔHΔᵀ) formed
// with full dense products, for wide and tall Δ and an indefinite symmetric H.
TEST(QuantProxyLoss, EqualsTheTraceDefinition) {
  for (auto [m, n] : {std::pair{7, 40}, std::pair{90, 33}, std::pair{1, 1}}) {
    const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 21), w_hat = testing::RandomGaussian(m, n, 22);
    Eigen::MatrixXd h = testing::RandomGaussian(n, n, 23);
    h = (h + h.transpose()).eval();
    const Eigen::MatrixXd d = w_hat - w;
    const double reference = (d * h * d.transpose()).trace();
    EXPECT_NEAR(ProxyLoss(w_hat, w, h), reference, 1e-12 * (d * h.cwiseAbs() * d.transpose()).cwiseAbs().trace())
        << m << "x" << n;
  }
}

// Both terms of the relative proxy loss from the panel sums (quant/metrics.cc) against the
// dense definitions, with n spanning several 128-column panels and a ragged last one; on
// 1, 2 and 3 threads the values are the same bits (panel sums are added in order).
TEST(QuantProxyLoss, LossAndTotalEqualDenseTracesOnAnyThreadCount) {
  for (auto [m, n] : {std::pair{5, 300}, std::pair{260, 129}, std::pair{3, 128}}) {
    const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 31), w_hat = testing::RandomGaussian(m, n, 32);
    Eigen::MatrixXd h = testing::RandomGaussian(n, n, 33);
    h = (h + h.transpose()).eval();
    const Eigen::MatrixXd d = w_hat - w;
    const double loss = (d * h * d.transpose()).trace(), total = (w * h * w.transpose()).trace();
    SetWorkerThreads(1);
    const ProxyLossTerms one = ProxyLossAndTotal(w_hat, w, h);
    EXPECT_NEAR(one.loss, loss, 1e-12 * (d * h.cwiseAbs() * d.transpose()).cwiseAbs().trace()) << m << "x" << n;
    EXPECT_NEAR(one.total, total, 1e-12 * (w * h.cwiseAbs() * w.transpose()).cwiseAbs().trace()) << m << "x" << n;
    for (int threads : {2, 3}) {
      SetWorkerThreads(threads);
      const ProxyLossTerms split = ProxyLossAndTotal(w_hat, w, h);
      EXPECT_EQ(split.loss, one.loss) << threads;
      EXPECT_EQ(split.total, one.total) << threads;
    }
  }
  SetWorkerThreads(0);
}

}  // namespace
}  // namespace quip

namespace quip {
namespace {

// The reported proxy loss from LDLQ's / block LDLQ's residuals (quantize.cc
// LossFromResiduals: Σ_k d_k‖η_k‖² in the transformed basis, less the damping and the dead
// inputs) equals the dense definition tr((Ŵ−W) H (Ŵ−W)ᵀ), Ŵ = Dequantize(q), H as given
// (undamped, with a dead input), for QuIP (Kronecker, D̃), plain LDLQ (per-row grid),
// QuIP# (E8P, RHT) and QTIP (trellis). The profile's flops show the residual path ran.
// Measured relative differences ≤ 4e-16 (rounding level; the tolerance is 10x that). The
// relative loss's denominator tr(WHWᵀ) comes from float Gram panels (HessianTraceFloatPanels):
// measured ≤ 1.8e-8 relative (the tolerance is 1e-7).
TEST(QuantProxyLoss, ResidualLossEqualsDenseTrace) {
  struct Case {
    const char* name;
    QuantConfig config;
  };
  std::vector<Case> cases;
  for (int bits : {2, 4}) cases.push_back({"quip", Config(bits, Rounding::kLdlq, true, true)});
  cases.push_back({"ldlq", Config(3, Rounding::kLdlq, false, false)});
  QuantConfig e8p = Config(2, Rounding::kLdlq, true, false);
  e8p.rotation = RotationKind::kRht;
  e8p.codebook = Codebook::kE8P;
  cases.push_back({"e8p", e8p});
  QuantConfig trellis = e8p;
  trellis.codebook = Codebook::kTrellis;
  cases.push_back({"trellis", trellis});
  const int m = 64, n = 128;
  const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 41) * 0.02;
  const std::vector<float> wf = testing::ToRowMajorFloats(w);
  const Eigen::MatrixXd w_given = Eigen::Map<const Eigen::Matrix<float, m, n, Eigen::RowMajor>>(wf.data()).cast<double>();
  Eigen::MatrixXd h = testing::RandomHessian(n, 42);
  h.row(5).setZero();  // a dead input, as a Gram matrix has it
  h.col(5).setZero();
  for (const Case& c : cases) {
    PhaseProfile profile;
    QuantStats stats;
    QuantizedMatrix q;
    {
      const ActiveProfile active(&profile);
      q = QuantizeMatrix(wf.data(), m, n, h, c.config, &stats);
    }
    const Eigen::MatrixXd d = Dequantize(q) - w_given;
    const double loss = (d * h * d.transpose()).trace(), total = (w_given * h * w_given.transpose()).trace();
    std::printf("%s %d bits: relative difference of the loss %.2e, of the relative loss %.2e\n", c.name,
                c.config.bits, std::abs(stats.proxy_loss - loss) / loss,
                std::abs(stats.relative_proxy_loss - loss / total) / (loss / total));
    EXPECT_NEAR(stats.proxy_loss, loss, 4e-15 * loss) << c.name << " " << c.config.bits;
    EXPECT_NEAR(stats.relative_proxy_loss, loss / total, 1e-7 * loss / total) << c.name;
    for (const auto& [phase, entry] : profile.Entries())
      if (phase == "diagnostics") EXPECT_LT(entry.flop, 1.5 * m * n * n) << c.name << ": the dense path ran";
  }
}

}  // namespace
}  // namespace quip
