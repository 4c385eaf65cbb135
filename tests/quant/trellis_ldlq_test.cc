// QTIP's matrix quantizer (quant/trellis_ldlq.h): block LDLQ over 16-column groups with
// 16×16 trellis tiles.
//   - With H = I there is no feedback: LDLQ equals rounding each tile on its own, and the
//     stored tiles decode to exactly the rounded matrix (the storage is the definition).
//   - On random and ill-conditioned Hessians LDLQ's proxy loss tr((Ŵ−W)H(Ŵ−W)ᵀ) is below
//     rounding each tile on its own, and equals Σ_J tr(Δ_J D_J Δ_Jᵀ), the block-LDL
//     identity (Δ = (Ŵ − W)(U + I)), to rounding.
#include <gtest/gtest.h>

#include "format/trellis_codes.h"
#include "quant/trellis_ldlq.h"
#include "quant_test_util.h"

namespace quip::trellis {
namespace {

double Proxy(const Eigen::MatrixXd& w_hat, const Eigen::MatrixXd& w, const Eigen::MatrixXd& h) {
  const Eigen::MatrixXd d = w_hat - w;
  return (d * h).cwiseProduct(d).sum();
}

const BitshiftTrellis& OneMadTwoBit() {
  static const BitshiftTrellis t(kStateBits, 2, 1, StateValues(Code::k1Mad, nullptr));
  return t;
}

TEST(TrellisLdlq, IdentityHessianEqualsTileByTileAndDecodes) {
  const Eigen::MatrixXd w = testing::RandomGaussian(32, 48, 1) * 0.02;
  const double scale = 1.1 * 0.02;
  BlockLdlFactor f;
  ASSERT_TRUE(ComputeBlockLdl(Eigen::MatrixXd::Identity(48, 48), kTileSide, &f));
  const TrellisRounding ldlq = RoundTrellisLdlq(w, f, OneMadTwoBit(), scale);
  const TrellisRounding near = RoundTrellisNearest(w, OneMadTwoBit(), scale);
  EXPECT_EQ(ldlq.words, near.words);
  EXPECT_EQ(ldlq.w_hat, near.w_hat);
  EXPECT_EQ(ldlq.words.size(), size_t(2 * 3 * 256 * 2 / 32));  // 2 bits per weight exactly
  EXPECT_EQ(DecodeTrellisTiles(ldlq.words, 32, 48, OneMadTwoBit(), scale), ldlq.w_hat);
  const double rel = (ldlq.w_hat - w).squaredNorm() / w.squaredNorm();
  EXPECT_LT(rel, 0.09);  // ~0.069/1.0 Gaussian MSE at 2 bits (weights are Gaussian here)
}

TEST(TrellisLdlq, FeedbackLowersProxyLossAndLossDecomposes) {
  const int m = 32, n = 64;
  for (int kind = 0; kind < 2; ++kind) {
    const Eigen::MatrixXd w = testing::RandomGaussian(m, n, 7 + kind) * 0.03;
    Eigen::MatrixXd h = kind == 0 ? testing::RandomHessian(n, 11) : testing::IllConditionedHessian(n, 1e4, 12);
    h += 0.01 * h.diagonal().mean() * Eigen::MatrixXd::Identity(n, n);
    BlockLdlFactor f;
    ASSERT_TRUE(ComputeBlockLdl(h, kTileSide, &f));
    const double scale = 1.1 * 0.03;
    const TrellisRounding ldlq = RoundTrellisLdlq(w, f, OneMadTwoBit(), scale);
    const TrellisRounding near = RoundTrellisNearest(w, OneMadTwoBit(), scale);
    const double base = Proxy(Eigen::MatrixXd::Zero(m, n), w, h);
    const double ll = Proxy(ldlq.w_hat, w, h), ln = Proxy(near.w_hat, w, h);
    std::printf("%s: relative proxy loss tile by tile %.5f, LDLQ %.5f\n", kind == 0 ? "random" : "ill-conditioned",
                ln / base, ll / base);
    EXPECT_LT(ll, ln);
    EXPECT_EQ(DecodeTrellisTiles(ldlq.words, m, n, OneMadTwoBit(), scale), ldlq.w_hat);
    const Eigen::MatrixXd delta = (ldlq.w_hat - w) * (f.u + Eigen::MatrixXd::Identity(n, n));
    double sum = 0;
    for (int j = 0; j < n / kTileSide; ++j) {
      const Eigen::MatrixXd dj = delta.middleCols(j * kTileSide, kTileSide);
      sum += (dj * f.d[j]).cwiseProduct(dj).sum();
    }
    EXPECT_NEAR(sum, ll, 1e-9 * ll);
  }
}

}  // namespace
}  // namespace quip::trellis
