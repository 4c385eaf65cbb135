// HessianAccumulator against the definition H = (1/N) Σ_t x_t x_tᵀ, formed densely.
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

}  // namespace
}  // namespace quip
