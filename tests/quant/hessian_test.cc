// HessianAccumulator and CrossMomentAccumulator against their definitions
// H = (1/N) Σ_t x_t x_tᵀ and C = (1/N) Σ_t x_t x̂_tᵀ, formed densely; AsymmetricTarget
// against closed forms and an independent least-squares solve (Householder QR of the
// stacked, ridge-augmented system).
#include "quant/hessian.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/error.h"
#include "quant_test_util.h"

namespace quip {
namespace {

TEST(QuantHessianAccumulator, MatchesDenseDefinitionAcrossChunksAndCalls) {
  const int n = 37;
  // 600 tokens: crosses the 256-token chunk boundary inside Add, and two Add calls.
  const Eigen::MatrixXd x = testing::RandomGaussian(600, n, 11);
  const std::vector<float> xf = testing::ToRowMajorFloats(x);
  HessianAccumulator acc(n);
  acc.Add(xf.data(), 450);
  acc.Add(xf.data() + 450 * n, 150);
  acc.Add(xf.data(), 0);
  EXPECT_EQ(acc.count(), 600);
  const Eigen::MatrixXd xd = testing::FloatRounded(x);
  const Eigen::MatrixXd expected = xd.transpose() * xd / 600.0;
  const Eigen::MatrixXd h = acc.Mean();
  EXPECT_LT((h - expected).cwiseAbs().maxCoeff(), 1e-12);
  EXPECT_EQ((h - h.transpose()).cwiseAbs().maxCoeff(), 0.0);
}

TEST(QuantHessianAccumulator, RejectsBadInput) {
  HessianAccumulator acc(3);
  EXPECT_THROW(acc.Mean(), Error);  // nothing added
  const float bad[3] = {1.0f, std::numeric_limits<float>::quiet_NaN(), 0.0f};
  EXPECT_THROW(acc.Add(bad, 1), Error);
  EXPECT_THROW(HessianAccumulator(0), Error);
}

TEST(QuantCrossMomentAccumulator, MatchesDenseDefinitionAndMerges) {
  const int n = 29;
  const Eigen::MatrixXd x = testing::RandomGaussian(700, n, 3), x_hat = testing::RandomGaussian(700, n, 4);
  const std::vector<float> xf = testing::ToRowMajorFloats(x), hf = testing::ToRowMajorFloats(x_hat);
  // Two accumulators over a split of the tokens (one crossing the 256-token chunk), merged.
  CrossMomentAccumulator a(n), b(n);
  a.Add(xf.data(), hf.data(), 300);
  b.Add(xf.data() + 300 * n, hf.data() + 300 * n, 400);
  a.Merge(b);
  const Eigen::MatrixXd expected = testing::FloatRounded(x).transpose() * testing::FloatRounded(x_hat) / 700.0;
  EXPECT_LT((a.Mean() - expected).cwiseAbs().maxCoeff(), 1e-12);

  HessianAccumulator h1(n), h2(n);
  h1.Add(xf.data(), 500);
  h2.Add(xf.data() + 500 * n, 200);
  h1.Merge(h2);
  EXPECT_EQ(h1.count(), 700);
  const Eigen::MatrixXd xd = testing::FloatRounded(x);
  EXPECT_LT((h1.Mean() - xd.transpose() * xd / 700.0).cwiseAbs().maxCoeff(), 1e-12);

  CrossMomentAccumulator empty(n);
  EXPECT_THROW(empty.Mean(), Error);
  const float bad[2] = {1.0f, std::numeric_limits<float>::infinity()}, good[2] = {1.0f, 2.0f};
  CrossMomentAccumulator two(2);
  EXPECT_THROW(two.Add(good, bad, 1), Error);
}

TEST(QuantAsymmetricTarget, RecoversTheLinearMapBetweenInputs) {
  // Original inputs x = A x̂ exactly: W x = (W A) x̂, so without damping the fit is W A.
  const int n = 12, rows = 5, tokens = 400;
  const Eigen::MatrixXd x_hat = testing::RandomGaussian(tokens, n, 7);  // rows are tokens
  const Eigen::MatrixXd A = testing::RandomGaussian(n, n, 8);
  const Eigen::MatrixXd x = x_hat * A.transpose();
  const Eigen::MatrixXd W = testing::RandomGaussian(rows, n, 9);
  const Eigen::MatrixXd H = x_hat.transpose() * x_hat / tokens, C = x.transpose() * x_hat / tokens;
  EXPECT_LT((AsymmetricTarget(W, C, H, 0.0) - W * A).cwiseAbs().maxCoeff(), 1e-9);
  // Same inputs on both sides: the fit is W itself (up to the damping's shrinkage).
  EXPECT_LT((AsymmetricTarget(W, H, H, 0.0) - W).cwiseAbs().maxCoeff(), 1e-9);
}

TEST(QuantAsymmetricTarget, EqualsRidgeLeastSquaresSolvedByQr) {
  // argmin_W' Σ_t ‖W' x̂_t − W x_t‖² + N·δ‖W'‖² with δ = α·mean(diag H): stack the tokens
  // and √(Nδ)·I under them and solve each output row by Householder QR.
  const int n = 10, rows = 4, tokens = 300;
  const double alpha = 0.05;
  const Eigen::MatrixXd x_hat = testing::RandomGaussian(tokens, n, 21);
  const Eigen::MatrixXd x = x_hat + 0.3 * testing::RandomGaussian(tokens, n, 22);
  const Eigen::MatrixXd W = testing::RandomGaussian(rows, n, 23);
  const Eigen::MatrixXd H = x_hat.transpose() * x_hat / tokens, C = x.transpose() * x_hat / tokens;
  const double delta = alpha * H.diagonal().mean();
  Eigen::MatrixXd design(tokens + n, n);
  design << x_hat, std::sqrt(tokens * delta) * Eigen::MatrixXd::Identity(n, n);
  Eigen::MatrixXd rhs(tokens + n, rows);
  rhs << x * W.transpose(), Eigen::MatrixXd::Zero(n, rows);
  const Eigen::MatrixXd expected = design.householderQr().solve(rhs).transpose();
  EXPECT_LT((AsymmetricTarget(W, C, H, alpha) - expected).cwiseAbs().maxCoeff(), 1e-10);
  EXPECT_THROW(AsymmetricTarget(W, C.topRows(n - 1), H, alpha), Error);
  // The shared map (q/k/v, gate/up): W·(C·H⁻¹) is the same fit in another order.
  EXPECT_LT((ApplyAsymmetricMap(W, AsymmetricMap(C, H, alpha)) - expected).cwiseAbs().maxCoeff(), 1e-10);
  EXPECT_THROW(AsymmetricMap(C.topRows(n - 1), H, alpha), Error);
  EXPECT_THROW(ApplyAsymmetricMap(W.leftCols(n - 1), C), Error);
}

TEST(QuantAsymmetricTarget, MapIsSharedWhenItCostsLess) {
  // count·n/3 + 4·rows > 7n/3 + 2·rows: q/k/v and gate/up of the 0.38B shape share, o and
  // down do not; a lone square linear costs the same either way and keeps its own.
  EXPECT_TRUE(ShareAsymmetricMap(2048 + 512 + 512, 3, 2048));
  EXPECT_TRUE(ShareAsymmetricMap(2 * 5632, 2, 2048));
  EXPECT_FALSE(ShareAsymmetricMap(2048, 1, 2048));
  EXPECT_FALSE(ShareAsymmetricMap(2048, 1, 5632));
}

}  // namespace
}  // namespace quip
