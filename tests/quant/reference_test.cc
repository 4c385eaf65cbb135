// Cross-check against an independent NumPy implementation (tools/quant_reference.py:
// OPTQ's min/max grid, optional QuIP rescaling, damping, dead inputs and
// nearest-rounding LDLQ via a flipped Cholesky, written from the paper, not from this
// code). Codes must agree exactly; the random inputs make rounding ties improbable.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "quant/quantize.h"
#include "quant_test_util.h"
#include "testing/binary_file.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {

void WriteRowMajor(const Eigen::MatrixXd& m, const std::string& path) {
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> r = m;
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(r.data()), r.size() * sizeof(double));
}

struct Case {
  int rows, cols, bits;
  bool rescale;
  bool dead_input;
};

TEST(QuantNumpyReference, LdlqMinMaxCodesMatchExactly) {
  const std::vector<Case> cases = {
      {24, 40, 2, false, false}, {24, 40, 3, true, false}, {16, 150, 4, true, true},
      {33, 64, 2, true, true},   {8, 200, 3, false, false},
  };
  int index = 0;
  for (const bool clip : {false, true})
  for (const Case& c : cases) {
    const std::string dir = testing::MakeTempDir("quant_reference_" + std::to_string(index));
    const Eigen::MatrixXd w = testing::FloatRounded(testing::RandomGaussian(c.rows, c.cols, 100 + index) * 0.05);
    Eigen::MatrixXd h = testing::RandomHessian(c.cols, 200 + index);
    if (c.dead_input) {
      h.row(c.cols / 2).setZero();
      h.col(c.cols / 2).setZero();
    }
    WriteRowMajor(w, dir + "/w.f64");
    WriteRowMajor(h, dir + "/h.f64");
    std::ofstream(dir + "/config.json") << "{\"rows\": " << c.rows << ", \"cols\": " << c.cols
                                        << ", \"bits\": " << c.bits << ", \"rescale\": " << (c.rescale ? "true" : "false")
                                        << ", \"damping\": 0.01, \"clip\": " << (clip ? "true" : "false") << "}";
    const testing::CommandResult run =
        testing::RunCommand("/usr/bin/python3 " + testing::SourceDir() + "/tools/quant_reference.py " + dir);
    ASSERT_EQ(run.exit_code, 0) << run.output;

    QuantConfig cfg;
    cfg.bits = c.bits;
    cfg.rounding = Rounding::kLdlq;
    cfg.incoherence = false;
    cfg.rescale = c.rescale;
    cfg.damping = 0.01;
    cfg.clip_before_rounding = clip;
    const std::vector<float> wf = testing::ToRowMajorFloats(w);
    const QuantizedMatrix q = QuantizeMatrix(wf.data(), c.rows, c.cols, h, cfg, nullptr);

    EXPECT_EQ(q.codes, testing::ReadBinary<uint8_t>(dir + "/codes.u8")) << "case " << index;
    EXPECT_EQ(q.row_scale, testing::ReadBinary<float>(dir + "/row_scale.f32")) << "case " << index;
    EXPECT_EQ(q.row_zero, testing::ReadBinary<float>(dir + "/row_zero.f32")) << "case " << index;
    EXPECT_EQ(q.incoherence.rescale, testing::ReadBinary<float>(dir + "/rescale.f32")) << "case " << index;
    ++index;
  }
}

}  // namespace
}  // namespace quip
