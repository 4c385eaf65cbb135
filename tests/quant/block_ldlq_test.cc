// Block LDL and block LDLQ: the factorisation, equality with scalar LDLQ for a
// 1-dimensional codebook, proxy loss no worse than nearest-vector rounding for E8P and the
// RVQ codebooks (with the RHT applied first, as the pipeline will), decoding of the codes,
// and the Gaussian MSE of the 3- and 4-bit RVQ codebooks at their tuned scales.
#include "quant/block_ldlq.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "format/hadamard.h"
#include "quant/rounding.h"
#include "quant_test_util.h"

namespace quip {
namespace {

// QUIP_MSE_VECTORS=N measures the MSE numbers on N vectors instead (docs/e8p.md used 2^18).
int MseVectors(int dflt) {
  const char* env = std::getenv("QUIP_MSE_VECTORS");
  return env ? std::atoi(env) : dflt;
}

double Proxy(const Eigen::MatrixXd& w_hat, const Eigen::MatrixXd& w, const Eigen::MatrixXd& h) {
  const Eigen::MatrixXd e = w_hat - w;
  return (e * h).cwiseProduct(e).sum();
}

TEST(QuantBlockLdlq, BlockLdlReconstructsH) {
  const int n = 64;
  const Eigen::MatrixXd h = testing::RandomHessian(n, 3) + 1e-3 * Eigen::MatrixXd::Identity(n, n);
  for (int g : {1, 4, 8}) {
    BlockLdlFactor f;
    ASSERT_TRUE(ComputeBlockLdl(h, g, &f));
    Eigen::MatrixXd d = Eigen::MatrixXd::Zero(n, n);
    for (int j = 0; j < n / g; ++j) d.block(j * g, j * g, g, g) = f.d[j];
    const Eigen::MatrixXd l = f.u + Eigen::MatrixXd::Identity(n, n);
    EXPECT_LT((l * d * l.transpose() - h).cwiseAbs().maxCoeff(), 1e-10 * h.cwiseAbs().maxCoeff()) << g;
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        if (j / g <= i / g) {
          ASSERT_EQ(f.u(i, j), 0.0) << g;
        }
  }
  Eigen::MatrixXd bad = h;
  bad(5, 5) = -1;
  BlockLdlFactor f;
  EXPECT_FALSE(ComputeBlockLdl(bad, 8, &f));
}

TEST(QuantBlockLdlq, ScalarCodebookEqualsScalarLdlq) {
  struct Case {
    int m, n, maxq;
  };
  int index = 0;
  for (const Case c : {Case{16, 40, 3}, Case{24, 200, 7}, Case{9, 300, 15}, Case{31, 129, 3}}) {
    const Eigen::MatrixXd h = testing::RandomHessian(c.n, 50 + index) + 1e-4 * Eigen::MatrixXd::Identity(c.n, c.n);
    const Eigen::MatrixXd x =
        (testing::RandomGaussian(c.m, c.n, 60 + index) * (c.maxq / 4.0)).array() + c.maxq / 2.0;
    LdlFactor scalar;
    ASSERT_TRUE(ComputeLdl(h, &scalar));
    BlockLdlFactor block;
    ASSERT_TRUE(ComputeBlockLdl(h, 1, &block));
    EXPECT_EQ(block.u, scalar.u);
    for (int j = 0; j < c.n; ++j) EXPECT_EQ(block.d[j](0, 0), scalar.d[j]);
    const Eigen::MatrixXd want = RoundLdlq(x, scalar, c.maxq, false, 0);
    const ScalarGridCodebook cb(c.maxq);
    const VqResult got = RoundBlockLdlq(x, block, cb);
    EXPECT_EQ(got.w_hat, want) << "case " << index;
    for (int i = 0; i < c.m; ++i)
      for (int j = 0; j < c.n; ++j) ASSERT_EQ(got.codes[size_t(i) * c.n + j], uint32_t(want(i, j)));
    ++index;
  }
}

// Test problems in the incoherent basis: W' = U W Vᵀ, H' = V H Vᵀ with RHTs U, V.
struct Problem {
  Eigen::MatrixXd w, h;
  const char* name;
};

std::vector<Problem> Problems() {
  std::vector<Problem> ps;
  const int m = 32, n = 256;
  const HadamardTransform u(m, 7), v(n, 8);
  for (int variant = 0; variant < 4; ++variant) {
    Eigen::MatrixXd w = testing::RandomGaussian(m, n, 100 + variant) * 0.02;
    Eigen::MatrixXd h = testing::RandomHessian(n, 200 + variant);
    const char* name = "decaying spectrum";
    if (variant == 1) {  // an outlier input direction carrying most of the energy
      Eigen::VectorXd dir = testing::RandomGaussian(n, 1, 300).col(0);
      dir.normalize();
      h += 50.0 * h.trace() / n * dir * dir.transpose();
      name = "outlier direction";
    } else if (variant == 2) {  // an outlier input coordinate before the RHT
      h.row(3) *= 30.0;
      h.col(3) *= 30.0;
      name = "outlier coordinate";
    } else if (variant == 3) {
      h = testing::IllConditionedHessian(n, 1e4, 400);
      name = "ill-conditioned";
    }
    h += 0.01 * h.diagonal().mean() * Eigen::MatrixXd::Identity(n, n);  // damping, as the pipeline
    Eigen::MatrixXd wp = v.RightMultiplyTransposed(u.LeftMultiply(w));
    Eigen::MatrixXd hp = v.RightMultiplyTransposed(v.LeftMultiply(h));
    hp = 0.5 * (hp + hp.transpose()).eval();
    ps.push_back({wp, hp, name});
  }
  return ps;
}

TEST(QuantBlockLdlq, ProxyLossNoWorseThanNearestVector) {
  for (const Problem& p : Problems()) {
    BlockLdlFactor f;
    ASSERT_TRUE(ComputeBlockLdl(p.h, 8, &f));
    const double rms = RmsOf(p.w);
    const double base = Proxy(Eigen::MatrixXd::Zero(p.w.rows(), p.w.cols()), p.w, p.h);
    for (int bits : {2, 3, 4}) {
      const auto cb = MakeE8PCodebook(bits, rms);
      ASSERT_EQ(cb->bits_per_weight(), double(bits));
      const VqResult near = RoundNearestVector(p.w, *cb);
      const VqResult ldlq = RoundBlockLdlq(p.w, f, *cb);
      const double ln = Proxy(near.w_hat, p.w, p.h), ll = Proxy(ldlq.w_hat, p.w, p.h);
      std::printf("%-20s %d bits: relative proxy loss nearest %.5f  block LDLQ %.5f\n", p.name, bits, ln / base,
                  ll / base);
      EXPECT_LE(ll, ln) << p.name << " bits " << bits;
      EXPECT_EQ(DecodeVq(ldlq.codes, int(p.w.rows()), int(p.w.cols()), *cb), ldlq.w_hat);
      EXPECT_EQ(DecodeVq(near.codes, int(p.w.rows()), int(p.w.cols()), *cb), near.w_hat);
    }
  }
}

// tr((Ŵ−W)H(Ŵ−W)ᵀ) = Σ_J tr(Δ_J D_J Δ_Jᵀ) with Δ = (Ŵ − W)(U + I); for block LDLQ, Δ_J =
// Ŵ_J − (W_J + (W − Ŵ)_{<J} U_{<J,J}) is exactly group J's rounding error after feedback.
TEST(QuantBlockLdlq, LossDecomposesOverGroups) {
  const Problem p = Problems()[0];
  BlockLdlFactor f;
  ASSERT_TRUE(ComputeBlockLdl(p.h, 8, &f));
  const auto cb = MakeE8PCodebook(2, RmsOf(p.w));
  const VqResult r = RoundBlockLdlq(p.w, f, *cb);
  const int n = int(p.w.cols());
  const Eigen::MatrixXd delta = (r.w_hat - p.w) * (f.u + Eigen::MatrixXd::Identity(n, n));
  double sum = 0;
  for (int j = 0; j < n / 8; ++j) {
    const Eigen::MatrixXd dj = delta.middleCols(j * 8, 8);
    sum += (dj * f.d[j]).cwiseProduct(dj).sum();
  }
  const double loss = Proxy(r.w_hat, p.w, p.h);
  EXPECT_NEAR(sum, loss, 1e-9 * loss);
}

TEST(QuantBlockLdlq, RvqMseOnGaussianAtTunedScales) {
  const int nvec = MseVectors(1 << 13);
  auto rvq = [](std::unique_ptr<VectorCodebook> a, std::unique_ptr<VectorCodebook> b) {
    std::vector<std::unique_ptr<VectorCodebook>> st;
    st.push_back(std::move(a));
    st.push_back(std::move(b));
    return std::make_unique<RvqCodebook>(std::move(st));
  };
  double mse2 = 0, mse3 = 0, mse3s = 0, mse4 = 0;
  const double rho1 = TuneRho([](double r) { return MakeE8PCodebook(2, 1.0, r); }, 0.6, 1.4, nvec, 21, &mse2);
  const double rho3 =
      TuneRho([](double r) { return MakeE8PCodebook(3, 1.0, kE8PRho, r); }, 0.3, 2.0, nvec, 21, &mse3);
  const double rho3s = TuneRho(
      [&](double r) { return rvq(std::make_unique<E8PCodebook>(kE8PRho), std::make_unique<SignCodebook>(r)); }, 0.05,
      0.8, nvec, 21, &mse3s);
  const double rho4 =
      TuneRho([](double r) { return MakeE8PCodebook(4, 1.0, kE8PRho, r); }, 0.05, 0.6, nvec, 21, &mse4);
  std::printf(
      "MSE per weight on N(0,1), %d vectors (rho = scale / RMS):\n"
      "  2 bits  E8P                 %.5f  rho %.3f            bound 2^-4 = %.5f  (best uniform 4-level grid 0.11885, "
      "Lloyd-Max 0.11748)\n"
      "  3 bits  E8P + E8 1-bit      %.5f  rho2 %.3f           bound 2^-6 = %.5f  (best uniform 8-level grid 0.03744, "
      "Lloyd-Max 0.03454)\n"
      "  3 bits  E8P + sign          %.5f  rho2 %.3f\n"
      "  4 bits  E8P + E8P           %.5f  rho2 %.3f           bound 2^-8 = %.5f  (best uniform 16-level grid 0.01154, "
      "Lloyd-Max 0.00950)\n",
      nvec, mse2, rho1, std::pow(2.0, -4), mse3, rho3, std::pow(2.0, -6), mse3s, rho3s, mse4, rho4, std::pow(2.0, -8));
  EXPECT_NEAR(rho1, kE8PRho, 0.05);
  EXPECT_NEAR(rho3, kRvq3StageRho, 0.08);
  EXPECT_NEAR(rho4, kRvq4StageRho, 0.05);
  EXPECT_LT(mse3, mse3s);    // the E8 stage beats a sign per weight
  EXPECT_LT(mse3, 0.03454);  // below the best 3-bit scalar quantizer (Lloyd-Max)
  EXPECT_LT(mse4, 0.01154);  // below the best uniform 4-bit scalar grid
  EXPECT_GT(mse3, std::pow(2.0, -6));
  EXPECT_GT(mse4, std::pow(2.0, -8));
}

}  // namespace
}  // namespace quip
