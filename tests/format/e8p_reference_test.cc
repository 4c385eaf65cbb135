// Cross-check of the E8P codebook, its nearest-point search, the block LDL and block LDLQ
// against an independent NumPy implementation (tools/e8p_reference.py, written from
// docs/e8p.md and QuIP#'s published table with brute-force search), and the point set
// against QuIP#'s own index layout. The random inputs make rounding ties improbable,
// so points and codes must agree exactly.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "quant/block_ldlq.h"
#include "format/e8p.h"
#include "quant/quant_test_util.h"
#include "testing/binary_file.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {

void WriteRowMajor(const Eigen::MatrixXd& m, const std::string& path) {
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> r = m;
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(r.data()), r.size() * sizeof(double));
}

TEST(QuantE8PNumpyReference, CodebookNearestAndBlockLdlqMatch) {
  struct Case {
    int rows, cols;
  };
  int index = 0;
  for (const Case c : {Case{8, 64}, Case{5, 136}}) {
    const std::string dir = testing::MakeTempDir("e8p_reference_" + std::to_string(index));
    const int nx = 300;
    const Eigen::MatrixXd x = testing::RandomGaussian(nx, 8, 10 + index) * 1.3;
    const Eigen::MatrixXd w = testing::RandomGaussian(c.rows, c.cols, 20 + index) * 0.03;
    const Eigen::MatrixXd h =
        testing::RandomHessian(c.cols, 30 + index) + 1e-3 * Eigen::MatrixXd::Identity(c.cols, c.cols);
    const double scale = kE8PRho * RmsOf(w);
    WriteRowMajor(x, dir + "/x.f64");
    WriteRowMajor(w, dir + "/w.f64");
    WriteRowMajor(h, dir + "/h.f64");
    {
      std::ofstream cfg(dir + "/config.json");
      cfg.precision(17);
      cfg << "{\"nx\": " << nx << ", \"rows\": " << c.rows << ", \"cols\": " << c.cols << ", \"scale\": " << scale
          << "}";
    }
    const testing::CommandResult run =
        testing::RunCommand("/usr/bin/python3 " + testing::SourceDir() + "/tools/e8p_reference.py " + dir);
    ASSERT_EQ(run.exit_code, 0) << run.output;

    // The codebook, point by point in index order.
    const std::vector<double> grid = testing::ReadBinary<double>(dir + "/grid.f64");
    ASSERT_EQ(grid.size(), size_t(e8p::kNumPoints) * 8);
    for (int i = 0; i < e8p::kNumPoints; ++i) {
      double p[8];
      e8p::Decode(uint16_t(i), p);
      for (int k = 0; k < 8; ++k) ASSERT_EQ(p[k], grid[size_t(i) * 8 + k]) << "index " << i;
    }
    // QuIP#'s codebook in its own index layout (quip-sharp 79b752f, as the script reads it):
    // the same 2^16 points, so each is one of ours and together they are all of ours.
    const std::vector<double> quipsharp = testing::ReadBinary<double>(dir + "/quipsharp_grid.f64");
    ASSERT_EQ(quipsharp.size(), size_t(e8p::kNumPoints) * 8);
    std::vector<bool> hit(e8p::kNumPoints, false);
    for (int i = 0; i < e8p::kNumPoints; ++i) {
      uint16_t idx = 0;
      ASSERT_TRUE(e8p::Encode(&quipsharp[size_t(i) * 8], &idx)) << "QuIP# index " << i << " is not in our codebook";
      ASSERT_FALSE(hit[idx]) << "QuIP# index " << i;
      hit[idx] = true;
    }
    // Nearest points.
    const std::vector<uint16_t> nearest = testing::ReadBinary<uint16_t>(dir + "/nearest.u16");
    ASSERT_EQ(nearest.size(), size_t(nx));
    for (int v = 0; v < nx; ++v) {
      const Eigen::VectorXd row = x.row(v).transpose();
      EXPECT_EQ(e8p::Nearest(row.data()), nearest[v]) << "vector " << v;
    }
    // Block LDL.
    BlockLdlFactor f;
    ASSERT_TRUE(ComputeBlockLdl(h, 8, &f));
    const std::vector<double> u = testing::ReadBinary<double>(dir + "/u.f64");
    ASSERT_EQ(u.size(), size_t(c.cols) * c.cols);
    double max_u = 0, max_du = 0;
    for (int i = 0; i < c.cols; ++i)
      for (int j = 0; j < c.cols; ++j) {
        max_u = std::max(max_u, std::abs(u[size_t(i) * c.cols + j]));
        max_du = std::max(max_du, std::abs(f.u(i, j) - u[size_t(i) * c.cols + j]));
      }
    EXPECT_LT(max_du, 1e-9 * max_u);
    const std::vector<double> d = testing::ReadBinary<double>(dir + "/d.f64");
    ASSERT_EQ(d.size(), size_t(c.cols) * 8);
    for (int j = 0; j < c.cols / 8; ++j)
      for (int a = 0; a < 8; ++a)
        for (int b = 0; b < 8; ++b)
          EXPECT_NEAR(f.d[j](a, b), d[size_t(j) * 64 + a * 8 + b], 1e-9 * f.d[j].cwiseAbs().maxCoeff());
    // Block LDLQ with E8P at the given scale.
    const E8PCodebook cb(scale);
    const VqResult r = RoundBlockLdlq(w, f, cb);
    const std::vector<uint16_t> codes = testing::ReadBinary<uint16_t>(dir + "/codes.u16");
    ASSERT_EQ(codes.size(), r.codes.size());
    for (size_t i = 0; i < codes.size(); ++i) EXPECT_EQ(r.codes[i], codes[i]) << "group " << i;
    const std::vector<double> w_hat = testing::ReadBinary<double>(dir + "/w_hat.f64");
    for (int i = 0; i < c.rows; ++i)
      for (int j = 0; j < c.cols; ++j) ASSERT_EQ(r.w_hat(i, j), w_hat[size_t(i) * c.cols + j]);
    ++index;
  }
}

}  // namespace
}  // namespace quip
