// Numerical faults in QuantizeMatrix (issue 6, docs/robustness.md): every fault ends in a
// documented behaviour, never in NaN/Inf codes, scales or a silently wrong matrix:
//   singular Hessian            -> damping (retried tenfold when the Cholesky fails)
//   indefinite Hessian          -> retried with more damping; if still failing, nearest
//                                  rounding, with a note in stats (-> quant_report.json)
//   negative Hessian diagonal   -> clear error naming "Hessian"
//   all-zero input column       -> dead input: weights of that column zeroed, note
//   all-zero weight column      -> rescale factor 1 for it, finite result
//   zero weight matrix          -> quantized to exactly zero
//   huge dynamic range (1e30)   -> finite scales and codes, loss below the trivial one
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/error.h"
#include "quant/quantize.h"
#include "quant_test_util.h"

namespace quip {
namespace {

QuantConfig Cfg(int bits, Rounding rounding, bool incoherence = true, bool rescale = true) {
  QuantConfig c;
  c.bits = bits;
  c.rounding = rounding;
  c.incoherence = incoherence;
  c.rescale = rescale;
  c.seed = 3;
  return c;
}

// Every stored number of q is finite and the scales/rescales positive; Ŵ is finite.
void ExpectWellFormed(const QuantizedMatrix& q) {
  for (float s : q.row_scale) EXPECT_TRUE(std::isfinite(s) && s >= 0.0f) << s;
  for (float z : q.row_zero) EXPECT_TRUE(std::isfinite(z)) << z;
  for (float r : q.incoherence.rescale) EXPECT_TRUE(std::isfinite(r) && r > 0.0f) << r;
  EXPECT_TRUE(Dequantize(q).allFinite());
}

const Rounding kRoundings[] = {Rounding::kNearest, Rounding::kStochastic, Rounding::kLdlq, Rounding::kOptq,
                               Rounding::kLdlqRg};

// H = a I + b (J - I): diagonal a >= 0, eigenvalues a - b (n - 1 times) and a + (n - 1) b.
Eigen::MatrixXd Indefinite(int n, double a, double b) {
  Eigen::MatrixXd h = Eigen::MatrixXd::Constant(n, n, b);
  h.diagonal().setConstant(a);
  return h;
}

TEST(NumericalFaults, SingularHessianIsDampedForEveryRounding) {
  const int m = 8, n = 32;
  const std::vector<float> w = testing::ToRowMajorFloats(testing::RandomGaussian(m, n, 1));
  const Eigen::MatrixXd x = testing::RandomGaussian(n, 3, 2);  // rank 3
  const Eigen::MatrixXd h = x * x.transpose();
  for (Rounding r : kRoundings) {
    SCOPED_TRACE(RoundingName(r));
    QuantStats s;
    const QuantizedMatrix q = QuantizeMatrix(w.data(), m, n, h, Cfg(2, r), &s);
    ExpectWellFormed(q);
    EXPECT_TRUE(std::isfinite(s.proxy_loss));
    EXPECT_LT(s.relative_proxy_loss, 1.0);
  }
}

TEST(NumericalFaults, IndefiniteHessianRetriesWithMoreDamping) {
  const int m = 8, n = 16;
  const std::vector<float> w = testing::ToRowMajorFloats(testing::RandomGaussian(m, n, 3));
  QuantStats s;
  // Smallest eigenvalue -1 against a mean diagonal of 1: the Cholesky of H + 0.01 I fails,
  // H + 10 I (the third retry) succeeds.
  const QuantizedMatrix q = QuantizeMatrix(w.data(), m, n, Indefinite(n, 1.0, 2.0), Cfg(2, Rounding::kLdlq), &s);
  ExpectWellFormed(q);
  EXPECT_TRUE(s.damping_retried);
  EXPECT_GT(s.damping, 0.01);
  EXPECT_NE(s.note.find("damping raised"), std::string::npos) << s.note;
}

TEST(NumericalFaults, HopelesslyIndefiniteHessianFallsBackToNearestWithANote) {
  const int m = 8, n = 16;
  const std::vector<float> w = testing::ToRowMajorFloats(testing::RandomGaussian(m, n, 4));
  for (Rounding r : {Rounding::kLdlq, Rounding::kOptq, Rounding::kLdlqRg}) {
    SCOPED_TRACE(RoundingName(r));
    QuantStats s;
    const QuantizedMatrix q = QuantizeMatrix(w.data(), m, n, Indefinite(n, 1.0, 100.0), Cfg(3, r), &s);
    ExpectWellFormed(q);
    EXPECT_NE(s.note.find("fell back to nearest rounding"), std::string::npos) << s.note;
  }
}

TEST(NumericalFaults, NegativeHessianDiagonalIsAClearError) {
  const int m = 4, n = 8;
  const std::vector<float> w = testing::ToRowMajorFloats(testing::RandomGaussian(m, n, 5));
  Eigen::MatrixXd h = Eigen::MatrixXd::Identity(n, n);
  h(3, 3) = -1.0;
  try {
    QuantizeMatrix(w.data(), m, n, h, Cfg(2, Rounding::kLdlq), nullptr);
    ADD_FAILURE() << "accepted a negative diagonal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Hessian"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("negative diagonal"), std::string::npos) << e.what();
  }
}

TEST(NumericalFaults, AllZeroInputColumnIsADeadInput) {
  const int m = 12, n = 24;
  const std::vector<float> w = testing::ToRowMajorFloats(testing::RandomGaussian(m, n, 6));
  Eigen::MatrixXd h = testing::RandomHessian(n, 7);
  h.row(5).setZero();  // input 5 was zero for every calibration token
  h.col(5).setZero();
  for (bool incoherence : {false, true}) {
    QuantStats s;
    const QuantizedMatrix q = QuantizeMatrix(w.data(), m, n, h, Cfg(4, Rounding::kLdlq, incoherence), &s);
    ExpectWellFormed(q);
    EXPECT_NE(s.note.find("1 dead input"), std::string::npos) << s.note;
    EXPECT_TRUE(std::isfinite(s.proxy_loss));
  }
}

TEST(NumericalFaults, AllZeroWeightColumnStaysFinite) {
  const int m = 12, n = 24;
  Eigen::MatrixXd wm = testing::RandomGaussian(m, n, 8);
  wm.col(9).setZero();
  const std::vector<float> w = testing::ToRowMajorFloats(wm);
  QuantStats s;
  const QuantizedMatrix q = QuantizeMatrix(w.data(), m, n, testing::RandomHessian(n, 9), Cfg(2, Rounding::kLdlq), &s);
  ExpectWellFormed(q);
  EXPECT_EQ(q.incoherence.rescale.at(9), 1.0f);
  EXPECT_LT(s.relative_proxy_loss, 1.0);
}

TEST(NumericalFaults, ZeroWeightMatrixQuantizesToZero) {
  const int m = 8, n = 16;
  const std::vector<float> w(size_t(m) * n, 0.0f);
  for (bool incoherence : {false, true})
    for (int bits : {2, 3, 4})
      for (Rounding r : kRoundings) {
        SCOPED_TRACE(std::string(RoundingName(r)) + " bits " + std::to_string(bits) +
                     (incoherence ? " incoherent" : ""));
        QuantStats s;
        const QuantizedMatrix q = QuantizeMatrix(w.data(), m, n, testing::RandomHessian(n, 10), Cfg(bits, r, incoherence), &s);
        ExpectWellFormed(q);
        EXPECT_LT(Dequantize(q).cwiseAbs().maxCoeff(), 1e-30) << "a zero matrix must stay zero";
        EXPECT_LT(s.proxy_loss, 1e-30);
      }
}

TEST(NumericalFaults, AllInputsDeadQuantizesToZero) {
  const int m = 8, n = 16;
  const std::vector<float> w = testing::ToRowMajorFloats(testing::RandomGaussian(m, n, 11));
  QuantStats s;
  const QuantizedMatrix q = QuantizeMatrix(w.data(), m, n, Eigen::MatrixXd::Zero(n, n), Cfg(2, Rounding::kLdlq), &s);
  ExpectWellFormed(q);
  EXPECT_NE(s.note.find("16 dead input"), std::string::npos) << s.note;
  EXPECT_LT(Dequantize(q).cwiseAbs().maxCoeff(), 1e-30);
}

TEST(NumericalFaults, HugeDynamicRangeOfWeights) {
  const int m = 16, n = 32;
  // Column c scaled by 10^(-15 + 30 c / (n - 1)): magnitudes from 1e-15 to 1e15.
  Eigen::MatrixXd wm = testing::RandomGaussian(m, n, 12);
  for (int c = 0; c < n; ++c) wm.col(c) *= std::pow(10.0, -15.0 + 30.0 * c / (n - 1));
  const std::vector<float> w = testing::ToRowMajorFloats(wm);
  for (bool incoherence : {false, true})
    for (Rounding r : {Rounding::kNearest, Rounding::kLdlq}) {
      SCOPED_TRACE(std::string(RoundingName(r)) + (incoherence ? " incoherent" : ""));
      QuantStats s;
      const QuantizedMatrix q = QuantizeMatrix(w.data(), m, n, testing::RandomHessian(n, 13), Cfg(4, r, incoherence), &s);
      ExpectWellFormed(q);
      EXPECT_TRUE(std::isfinite(s.proxy_loss));
      EXPECT_LT(s.relative_proxy_loss, 1.0);
    }
}

TEST(NumericalFaults, HugeDynamicRangeOfActivations) {
  const int m = 16, n = 32;
  const std::vector<float> w = testing::ToRowMajorFloats(testing::RandomGaussian(m, n, 14));
  // Input i scaled by 10^(-15 + 30 i / (n - 1)): H's diagonal spans 1e-30 .. 1e30.
  Eigen::VectorXd scale(n);
  for (int i = 0; i < n; ++i) scale[i] = std::pow(10.0, -15.0 + 30.0 * i / (n - 1));
  const Eigen::MatrixXd h = scale.asDiagonal() * testing::RandomHessian(n, 15) * scale.asDiagonal();
  for (Rounding r : {Rounding::kNearest, Rounding::kLdlq, Rounding::kOptq}) {
    SCOPED_TRACE(RoundingName(r));
    QuantStats s;
    const QuantizedMatrix q = QuantizeMatrix(w.data(), m, n, h, Cfg(2, r), &s);
    ExpectWellFormed(q);
    EXPECT_TRUE(std::isfinite(s.proxy_loss));
    EXPECT_LT(s.relative_proxy_loss, 1.0);
  }
}

TEST(NumericalFaults, WeightsNearFloatMaxGiveFiniteScalesOrAClearError) {
  const int m = 8, n = 16;
  Eigen::MatrixXd wm = testing::RandomGaussian(m, n, 16);
  wm *= 1e37;  // |w| up to ~3e37, 2^bits grid steps must still fit in a float
  const std::vector<float> w = testing::ToRowMajorFloats(wm);
  for (bool incoherence : {false, true}) {
    SCOPED_TRACE(incoherence ? "incoherent" : "min/max");
    try {
      const QuantizedMatrix q = QuantizeMatrix(w.data(), m, n, testing::RandomHessian(n, 17), Cfg(2, Rounding::kLdlq, incoherence), nullptr);
      ExpectWellFormed(q);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("weight"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace quip
