// ForEachInTiles (core/tiles.h) visits every element exactly once, ragged edges included, so
// the passes built on it (transposes, H's symmetric part, the float-to-double weight copy)
// equal their plain Eigen expressions bit for bit.
#include "core/tiles.h"

#include <gtest/gtest.h>

#include <Eigen/Core>

namespace quip {
namespace {

TEST(Tiles, VisitEveryElementOnceAndTransposeExactly) {
  for (auto [rows, cols] : {std::pair{1, 1}, std::pair{7, 9}, std::pair{8, 8}, std::pair{33, 17}, std::pair{64, 130}}) {
    Eigen::MatrixXi visits = Eigen::MatrixXi::Zero(rows, cols);
    ForEachInTiles(rows, cols, [&](Eigen::Index i, Eigen::Index j) { ++visits(i, j); });
    EXPECT_EQ(visits.minCoeff(), 1) << rows << "x" << cols;
    EXPECT_EQ(visits.maxCoeff(), 1) << rows << "x" << cols;
    const Eigen::MatrixXd m = Eigen::MatrixXd::Random(rows, cols);
    EXPECT_TRUE(TransposedByTiles(m) == m.transpose()) << rows << "x" << cols;
  }
}

// H's symmetric part in place (as QuantizeMatrix forms it) is the expression 0.5·(H + Hᵀ).
TEST(Tiles, SymmetricPartInPlaceEqualsTheExpression) {
  for (int n : {1, 5, 8, 37}) {
    Eigen::MatrixXd h = Eigen::MatrixXd::Random(n, n);
    const Eigen::MatrixXd expected = (0.5 * (h + h.transpose())).eval();
    SymmetricPartInPlace(h);
    EXPECT_TRUE(h == expected) << n;
  }
}

}  // namespace
}  // namespace quip
