// IncoherentLinear with the E8P codebook (QuIP#'s E8P codes, rotation and decode fused into inference) against dense
// math, and the e8p path of QuantizeMatrix.
//
// Independent reference: W_hat built from quant/quantized_matrix.h's formula in double:
// each group decoded by e8p::Decode (itself checked against the codebook's direct
// enumeration in tests/format/e8p_test.cc), the second stage from its point list (one-bit
// E8 codebook) or E8P, the explicit orthogonal matrices Dense() of the Kronecker /
// Hadamard transforms, and D̃⁻¹; it must equal quip::Dequantize, and IncoherentLinear::Forward
// (decode kernel and tile paths, fast rotations, 1/2/7 threads) must give W_hat x to ~1e-5,
// plus, for one token, the bound of its int8 activation rounding.
#include "model/incoherent_linear.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "quant/block_ldlq.h"
#include "format/e8p.h"
#include "format/hadamard.h"
#include "format/kronecker.h"
#include "quant/quant_test_util.h"
#include "quant/pack.h"
#include "quant/quantize.h"

namespace quip {
namespace {

using testing::RandomGaussian;
using testing::RandomHessian;

QuantizedMatrix QuantizeE8P(int rows, int cols, int bits, RotationKind rotation, bool rescale, uint64_t seed,
                            Rounding rounding = Rounding::kLdlq, QuantStats* stats = nullptr) {
  const Eigen::MatrixXd w = RandomGaussian(rows, cols, seed) * 0.05;
  std::vector<float> wf(size_t(rows) * cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) wf[size_t(r) * cols + c] = float(w(r, c));
  QuantConfig cfg;
  cfg.bits = bits;
  cfg.rounding = rounding;
  cfg.codebook = Codebook::kE8P;
  cfg.rotation = rotation;
  cfg.rescale = rescale;
  cfg.seed = seed * 7919 + 3;
  return QuantizeMatrix(wf.data(), rows, cols, RandomHessian(cols, seed + 100), cfg, stats);
}

Eigen::MatrixXd DenseRotation(RotationKind kind, int n, uint64_t seed) {
  return kind == RotationKind::kKron ? KroneckerTransform(n, seed).Dense() : HadamardTransform(n, seed).Dense();
}

// G: the decoded codes in the rotated basis, rows × 8·ng (padded columns included).
Eigen::MatrixXd DecodedCodes(const QuantizedMatrix& q) {
  const int ng = E8PGroups(q.cols), stages = E8PStages(q.bits);
  Eigen::MatrixXd g = Eigen::MatrixXd::Zero(q.rows, ng * 8);
  double p[8];
  for (int r = 0; r < q.rows; ++r)
    for (int j = 0; j < ng; ++j) {
      const uint32_t* idx = &q.group_codes[(size_t(r) * ng + j) * stages];
      e8p::Decode(uint16_t(idx[0]), p);
      for (int i = 0; i < 8; ++i) g(r, 8 * j + i) = q.stage_scale[0] * p[i];
      if (q.bits == 3)
        for (int i = 0; i < 8; ++i) g(r, 8 * j + i) += E8OneBitCodebook::Points()[idx[1]][i] * q.stage_scale[1];
      if (q.bits == 4) {
        e8p::Decode(uint16_t(idx[1]), p);
        for (int i = 0; i < 8; ++i) g(r, 8 * j + i) += q.stage_scale[1] * p[i];
      }
    }
  return g;
}

Eigen::MatrixXd FormulaWeights(const QuantizedMatrix& q) {
  Eigen::MatrixXd w = DecodedCodes(q).leftCols(q.cols);
  if (q.incoherence.incoherent)
    w = DenseRotation(q.incoherence.rotation, q.rows, q.incoherence.seed_u).transpose() * w * DenseRotation(q.incoherence.rotation, q.cols, q.incoherence.seed_v);
  for (size_t c = 0; c < q.incoherence.rescale.size(); ++c) w.col(Eigen::Index(c)) /= double(q.incoherence.rescale[c]);
  return w;
}

// One token decodes on int8 activations (kernels/e8p_matvec.h, exact against its own
// oracle in tests/kernels): its allowed error is the rounding bound of x' = V(x / rescale).
Eigen::VectorXd Q8ErrorBound(const QuantizedMatrix& q, const std::vector<float>& x) {
  Eigen::VectorXd xr = Eigen::VectorXd::Zero(8 * E8PGroups(q.cols));
  for (int c = 0; c < q.cols; ++c) xr(c) = double(x[c]) / (q.incoherence.rescale.empty() ? 1.0 : double(q.incoherence.rescale[c]));
  Eigen::MatrixXd u = Eigen::MatrixXd::Identity(q.rows, q.rows);
  if (q.incoherence.incoherent) {
    xr.head(q.cols) = DenseRotation(q.incoherence.rotation, q.cols, q.incoherence.seed_v) * xr.head(q.cols);
    u = DenseRotation(q.incoherence.rotation, q.rows, q.incoherence.seed_u);
  }
  return testing::Q8RoundingBound(DecodedCodes(q), xr, u);
}

struct Case {
  int rows, cols;
  RotationKind rotation;
};

TEST(IncoherentLinearE8P, ForwardMatchesDenseDequantizedWeights) {
  // Hadamard sizes K·2^k (1, 12, 20, 24 = 12·2, 96, 160) and odd Kronecker sizes; cols not
  // a multiple of 8 exercise the padded last group; rows cross the 64-row tile.
  const Case cases[] = {{1, 8, RotationKind::kRht},   {12, 24, RotationKind::kRht},  {96, 160, RotationKind::kRht},
                        {7, 13, RotationKind::kKron}, {67, 130, RotationKind::kKron}, {130, 64, RotationKind::kKron}};
  uint64_t seed = 1;
  for (int threads : {1, 2, 7}) {
    SetWorkerThreads(threads);
    for (const Case& c : cases)
      for (int bits : {2, 3, 4}) {
        ++seed;
        const bool rescale = seed % 2 == 0;
        SCOPED_TRACE(::testing::Message() << c.rows << "x" << c.cols << " " << RotationName(c.rotation) << " bits "
                                          << bits << " rescale " << rescale << " threads " << threads);
        const QuantizedMatrix q = QuantizeE8P(c.rows, c.cols, bits, c.rotation, rescale, seed);
        ASSERT_EQ(q.codebook, Codebook::kE8P);
        ASSERT_EQ(q.incoherence.rotation, c.rotation);
        ASSERT_EQ(q.stage_scale.size(), size_t(E8PStages(bits)));
        const Eigen::MatrixXd w_hat = FormulaWeights(q);
        ASSERT_LE((Dequantize(q) - w_hat).cwiseAbs().maxCoeff(), 1e-9 * w_hat.cwiseAbs().maxCoeff());

        const IncoherentLinear linear(PackQuantizedMatrix(q));
        EXPECT_EQ(linear.WeightBytes(), int64_t(c.rows) * E8PGroups(c.cols) * bits +
                                            4 * int64_t(q.stage_scale.size() + q.incoherence.rescale.size()));
        for (int ntok : {1, 3, 9}) {
          const Eigen::MatrixXd x = RandomGaussian(ntok, c.cols, seed * 31 + ntok);
          std::vector<float> xf(size_t(ntok) * c.cols), y(size_t(ntok) * c.rows), y_ref(y.size());
          for (int t = 0; t < ntok; ++t)
            for (int k = 0; k < c.cols; ++k) xf[size_t(t) * c.cols + k] = float(x(t, k));
          linear.Forward(xf.data(), ntok, y.data());
          linear.ForwardReference(xf.data(), ntok, y_ref.data());
          const Eigen::MatrixXd ref = x.cast<float>().cast<double>() * w_hat.transpose();
          const double scale = ref.cwiseAbs().maxCoeff();
          const Eigen::VectorXd q8 = ntok == 1 ? Q8ErrorBound(q, xf) : Eigen::VectorXd::Zero(c.rows);
          for (int t = 0; t < ntok; ++t)
            for (int r = 0; r < c.rows; ++r) {
              ASSERT_LE(std::abs(double(y[size_t(t) * c.rows + r]) - ref(t, r)), 1e-5 * scale + q8(r))
                  << "ntok " << ntok << " row " << r;
              ASSERT_LE(std::abs(double(y_ref[size_t(t) * c.rows + r]) - ref(t, r)), 1e-5 * scale)
                  << "reference, ntok " << ntok << " row " << r;
            }
        }
      }
  }
  SetWorkerThreads(0);
}

// Block LDLQ lowers the proxy loss against rounding each group on its own, and at 2 bits
// the E8P lattice beats QuIP's scalar 4-level grid on the same incoherent problem (the
// point of QuIP#: denser packing of Gaussian-like weights).
TEST(E8PQuantize, BlockLdlqBeatsNearestAndE8PBeatsTheScalarGrid) {
  for (uint64_t seed : {11, 12, 13}) {
    for (int bits : {2, 3, 4}) {
      SCOPED_TRACE(::testing::Message() << "seed " << seed << " bits " << bits);
      QuantStats ldlq, nearest;
      QuantizeE8P(64, 96, bits, RotationKind::kRht, false, seed, Rounding::kLdlq, &ldlq);
      QuantizeE8P(64, 96, bits, RotationKind::kRht, false, seed, Rounding::kNearest, &nearest);
      EXPECT_LT(ldlq.proxy_loss, nearest.proxy_loss);
      if (bits != 2) continue;
      const Eigen::MatrixXd w = RandomGaussian(64, 96, seed) * 0.05;
      std::vector<float> wf(64 * 96);
      for (int r = 0; r < 64; ++r)
        for (int c = 0; c < 96; ++c) wf[size_t(r) * 96 + c] = float(w(r, c));
      QuantConfig scalar;
      scalar.bits = 2;
      scalar.rotation = RotationKind::kRht;
      scalar.rescale = false;
      scalar.seed = seed * 7919 + 3;
      QuantStats s;
      QuantizeMatrix(wf.data(), 64, 96, RandomHessian(96, seed + 100), scalar, &s);
      EXPECT_LT(ldlq.proxy_loss, 0.8 * s.proxy_loss) << "e8p " << ldlq.relative_proxy_loss << " scalar "
                                                     << s.relative_proxy_loss;
    }
  }
}

TEST(E8PQuantize, UnsupportedHadamardSizeFallsBackToKroneckerAndSaysSo) {
  QuantStats stats;
  const QuantizedMatrix q = QuantizeE8P(7, 24, 2, RotationKind::kRht, false, 5, Rounding::kLdlq, &stats);
  EXPECT_EQ(q.incoherence.rotation, RotationKind::kKron);
  EXPECT_NE(stats.note.find("no Hadamard matrix of order 7"), std::string::npos) << stats.note;
  EXPECT_NE(stats.note.find("Kronecker"), std::string::npos) << stats.note;
}

}  // namespace
}  // namespace quip
