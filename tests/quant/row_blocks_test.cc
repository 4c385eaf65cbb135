// Row-parallel AsymmetricTarget, AsymmetricMap / ApplyAsymmetricMap, LDLQ and block LDLQ (quant/row_blocks.h) against the same calls on one
// thread, which run the unsplit products: the results must be equal bit for bit, for row
// counts below, at and past the block alignment with tails of every kind (the GEMM and
// matrix-vector kernels' remainder rows), and for inner dimensions below and past Eigen's
// k-blocking (136 doubles with AVX-512).
#include "quant/row_blocks.h"

#include <gtest/gtest.h>

#include <mutex>
#include <vector>

#include "core/parallel.h"
#include "quant/block_ldlq.h"
#include "quant/hessian.h"
#include "quant/rounding.h"
#include "quant_test_util.h"

namespace quip {
namespace {

struct Results {
  Eigen::MatrixXd target, mapped, codes, w_hat;
  Eigen::VectorXd row_loss, vq_row_loss;
  std::vector<uint32_t> vq_codes;
};

Results TargetAndCodes(int rows, int n, int threads) {
  SetWorkerThreads(threads);
  const Eigen::MatrixXd x = testing::RandomGaussian(2 * n, n, 21), x_hat = testing::RandomGaussian(2 * n, n, 22);
  const Eigen::MatrixXd H = x_hat.transpose() * x_hat / double(2 * n), C = x.transpose() * x_hat / double(2 * n);
  const Eigen::MatrixXd W = testing::RandomGaussian(rows, n, 23);
  Results r;
  r.target = AsymmetricTarget(W, C, H, 0.01);
  r.mapped = ApplyAsymmetricMap(W, AsymmetricMap(C, H, 0.01));
  Rounder rounder(Rounding::kLdlq, 0);
  Eigen::MatrixXd hd = H;
  hd.diagonal().array() += 0.01 * H.diagonal().mean();
  EXPECT_TRUE(rounder.Prepare(hd));
  r.codes = rounder.Round((W.array() * 1.5 + 1.5).matrix(), 3, 5, &r.row_loss);
  // Block LDLQ with E8P and 4-bit RVQ (two codes per group), columns padded to whole groups.
  BlockLdlFactor f;
  const int padded = (n + 7) / 8 * 8;
  Eigen::MatrixXd hp = Eigen::MatrixXd::Identity(padded, padded), wp = Eigen::MatrixXd::Zero(rows, padded);
  hp.topLeftCorner(n, n) = hd;
  wp.leftCols(n) = W;
  EXPECT_TRUE(ComputeBlockLdl(hp, 8, &f));
  const VqResult vq = RoundBlockLdlq(wp, f, *MakeE8PCodebook(rows % 2 == 0 ? 4 : 2, 1.0), &r.vq_row_loss);
  r.w_hat = vq.w_hat;
  r.vq_codes = vq.codes;
  return r;
}

TEST(RowBlocks, SplitCallsEqualUnsplitBitForBit) {
  for (int rows : {1, 100, 384, 385, 407, 577, 1000})
    for (int n : {40, 130, 300}) {
      SCOPED_TRACE(::testing::Message() << rows << "x" << n);
      const Results one = TargetAndCodes(rows, n, 1);
      for (int threads : {2, 3}) {
        const Results split = TargetAndCodes(rows, n, threads);
        EXPECT_EQ((split.target - one.target).cwiseAbs().maxCoeff(), 0.0) << threads << " threads";
        EXPECT_EQ((split.mapped - one.mapped).cwiseAbs().maxCoeff(), 0.0) << threads << " threads";
        EXPECT_EQ((split.codes - one.codes).cwiseAbs().maxCoeff(), 0.0) << threads << " threads";
        EXPECT_EQ((split.row_loss - one.row_loss).cwiseAbs().maxCoeff(), 0.0) << threads << " threads";
        EXPECT_EQ((split.w_hat - one.w_hat).cwiseAbs().maxCoeff(), 0.0) << threads << " threads";
        EXPECT_EQ((split.vq_row_loss - one.vq_row_loss).cwiseAbs().maxCoeff(), 0.0) << threads << " threads";
        EXPECT_TRUE(split.vq_codes == one.vq_codes) << threads << " threads";
      }
    }
  SetWorkerThreads(0);
}

TEST(RowBlocks, BlocksCoverTheRowsOnceAtAlignedStarts) {
  SetWorkerThreads(3);
  for (int64_t rows : {0, 1, 383, 384, 576, 1000}) {
    std::vector<int> seen(size_t(rows), 0);
    std::mutex mu;
    ForRowBlocks(rows, "test", [&](int64_t r0, int64_t r1) {
      std::lock_guard<std::mutex> lock(mu);
      EXPECT_EQ(r0 % kRowBlockAlign, 0);
      for (int64_t r = r0; r < r1; ++r) ++seen[size_t(r)];
    });
    for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(seen[size_t(r)], 1) << rows << " rows, row " << r;
  }
  SetWorkerThreads(0);
}

}  // namespace
}  // namespace quip
