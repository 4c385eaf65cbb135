// IncoherentLinear with the scalar grid (packed codes, Algorithm 2 fused into inference)
// against dense math.
//
// Independent reference: the weight matrix of quant/quantized_matrix.h's formula,
//   W_hat = U^T * G * V * diag(1 / rescale),  G[r][c] = row_scale[r] * (code[r][c] - row_zero[r]),
// built densely in double with Eigen from the explicit U, V matrices
// (KroneckerTransform::Dense), checked against quip::Dequantize, and then y = W_hat x
// computed in double. Forward (float, tiled, Kronecker fast apply, packed codes) must
// agree to ~1e-5 relative. Inputs are real QuantizeMatrix outputs of random W and H.
// WeightBytes is checked against its closed form.
#include "model/incoherent_linear.h"

#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <random>
#include <vector>

#include "core/parallel.h"
#include "kernels/q8_matmul_simd.h"
#include "format/hadamard.h"
#include "format/kronecker.h"
#include "format/packing.h"
#include "model/scalar_grid_matrix.h"
#include "quant/pack.h"
#include "quant/quantize.h"
#include "quant/quant_test_util.h"

namespace quip {
namespace {

using testing::RandomGaussian;

// A correlated proxy Hessian E[x x^T] with per-feature scales over a decade.
Eigen::MatrixXd RandomHessian(int n, uint64_t seed) {
  Eigen::MatrixXd x = RandomGaussian(n, 2 * n + 8, seed);
  for (int i = 0; i < n; ++i) x.row(i) *= std::pow(10.0, -double(i) / std::max(1, n));
  x = (RandomGaussian(n, n, seed + 1) / std::sqrt(double(n)) + Eigen::MatrixXd::Identity(n, n)) * x;
  return x * x.transpose() / double(x.cols());
}

QuantizedMatrix Quantize(int rows, int cols, int bits, bool incoherent, bool rescale, uint64_t seed,
                         RotationKind rotation = RotationKind::kKron) {
  const Eigen::MatrixXd w = RandomGaussian(rows, cols, seed) * 0.05;
  std::vector<float> wf(size_t(rows) * cols);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) wf[size_t(r) * cols + c] = float(w(r, c));
  QuantConfig cfg;
  cfg.bits = bits;
  cfg.rounding = Rounding::kLdlq;
  cfg.incoherence = incoherent;
  cfg.rescale = rescale;
  cfg.rotation = rotation;
  cfg.seed = seed * 7919 + 3;
  return QuantizeMatrix(wf.data(), rows, cols, RandomHessian(cols, seed + 100), cfg, nullptr);
}

// W_hat straight from the formula in quantized_matrix.h, explicit matrices in double.
Eigen::MatrixXd FormulaWeights(const QuantizedMatrix& q) {
  Eigen::MatrixXd g(q.rows, q.cols);
  for (int r = 0; r < q.rows; ++r)
    for (int c = 0; c < q.cols; ++c)
      g(r, c) = double(q.row_scale[r]) * (double(q.codes[size_t(r) * q.cols + c]) - double(q.row_zero[r]));
  if (q.incoherence.incoherent && q.incoherence.rotation == RotationKind::kKron)
    g = KroneckerTransform(q.rows, q.incoherence.seed_u).Dense().transpose() * g * KroneckerTransform(q.cols, q.incoherence.seed_v).Dense();
  if (q.incoherence.incoherent && q.incoherence.rotation == RotationKind::kRht)
    g = HadamardTransform(q.rows, q.incoherence.seed_u).Dense().transpose() * g * HadamardTransform(q.cols, q.incoherence.seed_v).Dense();
  for (size_t c = 0; c < q.incoherence.rescale.size(); ++c) g.col(Eigen::Index(c)) /= double(q.incoherence.rescale[c]);
  return g;
}

struct Shape {
  int rows, cols;
};

// A single token at 2 or 4 bits decodes on int8 activations (kernels/q8_matmul_simd.h;
// that kernel is checked exactly against its own oracle in tests/kernels). Its error is
// bounded by half a step per rotated activation x' = V(x / rescale) (Q8RoundingBound).
// Returns the bound on |Δy_i| per output (zeros where the product is exact float),
// computed here in double with explicit matrices.
std::vector<double> Q8ErrorBound(const QuantizedMatrix& q, const float* x, int ntok) {
  std::vector<double> bound(q.rows, 0.0);
  if (ntok != 1 || !kernels::simd::Q8Supports(q.bits)) return bound;
  Eigen::VectorXd xr(q.cols);
  for (int c = 0; c < q.cols; ++c) xr(c) = double(x[c]) / (q.incoherence.rescale.empty() ? 1.0 : double(q.incoherence.rescale[c]));
  Eigen::MatrixXd u = Eigen::MatrixXd::Identity(q.rows, q.rows);
  if (q.incoherence.incoherent && q.incoherence.rotation == RotationKind::kKron) {
    xr = KroneckerTransform(q.cols, q.incoherence.seed_v).Dense() * xr;
    u = KroneckerTransform(q.rows, q.incoherence.seed_u).Dense();
  }
  if (q.incoherence.incoherent && q.incoherence.rotation == RotationKind::kRht) {
    xr = HadamardTransform(q.cols, q.incoherence.seed_v).Dense() * xr;
    u = HadamardTransform(q.rows, q.incoherence.seed_u).Dense();
  }
  Eigen::MatrixXd g(q.rows, q.cols);
  for (int r = 0; r < q.rows; ++r)
    for (int c = 0; c < q.cols; ++c)
      g(r, c) = double(q.row_scale[r]) * (double(q.codes[size_t(r) * q.cols + c]) - double(q.row_zero[r]));
  const Eigen::VectorXd b = testing::Q8RoundingBound(g, xr, u);
  for (int i = 0; i < q.rows; ++i) bound[i] = b(i);
  return bound;
}

TEST(IncoherentLinearScalar, ForwardMatchesDenseDequantizedWeights) {
  // Odd and prime sizes, single rows/columns, and row counts that cross the 64-row tile.
  const Shape shapes[] = {{1, 7}, {7, 1}, {7, 67}, {67, 130}, {130, 256}, {256, 67}};
  uint64_t seed = 1;
  for (const Shape& s : shapes)
    for (int bits : {2, 3, 4})
      for (bool incoherent : {false, true})
        for (bool rescale : {false, true}) {
          ++seed;
          SCOPED_TRACE(::testing::Message() << s.rows << "x" << s.cols << " bits " << bits << " incoherent "
                                            << incoherent << " rescale " << rescale);
          const QuantizedMatrix q = Quantize(s.rows, s.cols, bits, incoherent, rescale, seed);
          ASSERT_EQ(q.incoherence.incoherent, incoherent);
          ASSERT_EQ(q.incoherence.rescale.empty(), !rescale);
          const Eigen::MatrixXd w_hat = FormulaWeights(q);
          // The formula and the library's reference reconstruction agree.
          const Eigen::MatrixXd deq = Dequantize(q);
          ASSERT_LE((deq - w_hat).cwiseAbs().maxCoeff(), 1e-9 * std::max(1.0, w_hat.cwiseAbs().maxCoeff()));

          const IncoherentLinear linear(PackQuantizedMatrix(q));
          ASSERT_EQ(linear.out_features(), s.rows);
          ASSERT_EQ(linear.in_features(), s.cols);
          for (int ntok : {1, 3, 40}) {
            const Eigen::MatrixXd x = RandomGaussian(ntok, s.cols, seed * 31 + ntok);  // [ntok, cols]
            std::vector<float> xf(size_t(ntok) * s.cols), y(size_t(ntok) * s.rows, -1234.0f);
            for (int t = 0; t < ntok; ++t)
              for (int c = 0; c < s.cols; ++c) xf[size_t(t) * s.cols + c] = float(x(t, c));
            linear.Forward(xf.data(), ntok, y.data());
            // Reference in double from the float inputs Forward saw.
            const Eigen::MatrixXd xd = x.cast<float>().cast<double>();
            const Eigen::MatrixXd ref = xd * w_hat.transpose();  // [ntok, rows]
            const double scale = ref.cwiseAbs().maxCoeff();
            ASSERT_GT(scale, 0.0);
            const std::vector<double> q8 = Q8ErrorBound(q, xf.data(), ntok);
            for (int t = 0; t < ntok; ++t)
              for (int r = 0; r < s.rows; ++r)
                ASSERT_LE(std::abs(double(y[size_t(t) * s.rows + r]) - ref(t, r)), 1e-5 * scale + q8[r])
                    << "ntok " << ntok << " row " << r << ", max |W_hat x| = " << scale;
          }
        }
}

// The fast path (fused SIMD matvec up to kFusedMaxTokens tokens, dequantized tiles +
// sgemm beyond) against the kept reference path, on odd shapes, every bit width, token
// counts on both sides of the switch, and 1, 2 and 7 threads. Tolerance: float
// rounding of the two summation orders, relative to the largest output.
// The scalar grid with the randomized Hadamard rotation (the ablation's RHT-scalar):
// fast and reference paths against the formula with explicit Hadamard matrices.
TEST(IncoherentLinearScalar, HadamardRotationMatchesDenseDequantizedWeights) {
  const Shape shapes[] = {{1, 12}, {12, 20}, {64, 96}, {96, 160}};
  uint64_t seed = 300;
  for (const Shape& s : shapes)
    for (int bits : {2, 3, 4}) {
      ++seed;
      SCOPED_TRACE(::testing::Message() << s.rows << "x" << s.cols << " bits " << bits);
      const QuantizedMatrix q = Quantize(s.rows, s.cols, bits, true, seed % 2 == 0, seed, RotationKind::kRht);
      ASSERT_EQ(q.incoherence.rotation, RotationKind::kRht);
      const Eigen::MatrixXd w_hat = FormulaWeights(q);
      ASSERT_LE((Dequantize(q) - w_hat).cwiseAbs().maxCoeff(), 1e-9 * std::max(1.0, w_hat.cwiseAbs().maxCoeff()));
      const IncoherentLinear linear(PackQuantizedMatrix(q));
      for (int ntok : {1, 3, 40}) {
        const Eigen::MatrixXd x = RandomGaussian(ntok, s.cols, seed * 31 + ntok);
        std::vector<float> xf(size_t(ntok) * s.cols), y(size_t(ntok) * s.rows), y_ref(y.size());
        for (int t = 0; t < ntok; ++t)
          for (int c = 0; c < s.cols; ++c) xf[size_t(t) * s.cols + c] = float(x(t, c));
        linear.Forward(xf.data(), ntok, y.data());
        linear.ForwardReference(xf.data(), ntok, y_ref.data());
        const Eigen::MatrixXd ref = x.cast<float>().cast<double>() * w_hat.transpose();
        const double scale = ref.cwiseAbs().maxCoeff();
        const std::vector<double> q8 = Q8ErrorBound(q, xf.data(), ntok);
        for (int t = 0; t < ntok; ++t)
          for (int r = 0; r < s.rows; ++r) {
            ASSERT_NEAR(y[size_t(t) * s.rows + r], ref(t, r), 1e-5 * scale + q8[r]) << "fast, ntok " << ntok;
            ASSERT_NEAR(y_ref[size_t(t) * s.rows + r], ref(t, r), 1e-5 * scale) << "reference, ntok " << ntok;
          }
      }
    }
}

TEST(IncoherentLinearScalar, FastPathMatchesReferencePath) {
  const Shape shapes[] = {{1, 7}, {7, 67}, {67, 130}, {130, 256}, {256, 67}, {300, 520}};
  uint64_t seed = 700;
  for (int threads : {1, 2, 7}) {
    SetWorkerThreads(threads);
    for (const Shape& s : shapes)
      for (int bits : {2, 3, 4}) {
        ++seed;
        const QuantizedMatrix q = Quantize(s.rows, s.cols, bits, /*incoherent=*/true, /*rescale=*/true, seed);
        const IncoherentLinear linear(PackQuantizedMatrix(q));
        for (int ntok : {1, 3, 9, ScalarGridMatrix::kFusedMaxTokens, ScalarGridMatrix::kFusedMaxTokens + 1, 40}) {
          SCOPED_TRACE(::testing::Message() << s.rows << "x" << s.cols << " bits " << bits << " ntok " << ntok
                                            << " threads " << threads);
          std::vector<float> x(size_t(ntok) * s.cols);
          for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * float(i) + float(seed));
          std::vector<float> fast(size_t(ntok) * s.rows), ref(fast.size());
          ASSERT_EQ(IncoherentLinear::Kernel(), QuantKernel::kFast);
          linear.Forward(x.data(), ntok, fast.data());
          linear.ForwardReference(x.data(), ntok, ref.data());
          float scale = 0;
          for (float v : ref) scale = std::max(scale, std::abs(v));
          const std::vector<double> q8 = Q8ErrorBound(q, x.data(), ntok);
          for (size_t i = 0; i < ref.size(); ++i)
            ASSERT_LE(std::abs(fast[i] - ref[i]), 2e-6 * scale + q8[i % s.rows]) << "output " << i;
        }
      }
  }
  SetWorkerThreads(0);
}

TEST(IncoherentLinearScalar, KernelSwitchSelectsTheReferencePath) {
  const QuantizedMatrix q = Quantize(67, 130, 3, true, true, 11);
  const IncoherentLinear linear(PackQuantizedMatrix(q));
  std::vector<float> x(2 * 130), y1(2 * 67), y2(2 * 67);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::cos(0.11f * float(i));
  IncoherentLinear::SetKernel(QuantKernel::kReference);
  linear.Forward(x.data(), 2, y1.data());
  IncoherentLinear::SetKernel(QuantKernel::kFast);
  linear.ForwardReference(x.data(), 2, y2.data());
  EXPECT_EQ(y1, y2);
}

TEST(IncoherentLinearScalar, BorrowedPackedBytesGiveTheSameOutput) {
  // Reference: the owning constructor (checked against dense math above), bit for bit.
  const QuantizedMatrix q = Quantize(67, 130, 3, true, true, 5);
  const IncoherentLinear owned(PackQuantizedMatrix(q));
  const std::vector<uint8_t> packed = PackMatrix(q.codes.data(), q.rows, q.cols, q.bits);
  const StoredLinear& s = owned.stored();
  ASSERT_EQ(std::vector<uint8_t>(s.codes(), s.codes() + q.rows * s.RowBytes()), packed);
  StoredLinear view = s;
  view.owned_codes.clear();
  view.borrowed_codes = packed.data();
  const IncoherentLinear borrowed(std::move(view));
  std::vector<float> x(3 * 130);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37f * float(i));
  std::vector<float> y1(3 * 67), y2(3 * 67);
  owned.Forward(x.data(), 3, y1.data());
  borrowed.Forward(x.data(), 3, y2.data());
  EXPECT_EQ(y1, y2);
}

TEST(IncoherentLinearScalar, WeightBytesCountsTheStoredFloats) {
  // Closed form: rows * ceil(cols * bits / 8) code bytes, plus 4 bytes per stored float:
  // the scales and the zeros each one float when every row shares it, else one per row
  // (as io/quip_format writes them), plus cols for D-tilde.
  for (int bits : {2, 3, 4}) {
    const int rows = 7, cols = 67;
    const int64_t code_bytes = int64_t(rows) * ((int64_t(cols) * bits + 7) / 8);
    QuantizedMatrix q;
    q.rows = rows;
    q.cols = cols;
    q.bits = bits;
    q.codes.assign(size_t(rows) * cols, 1);
    q.row_scale.assign(rows, 0.25f);
    q.row_zero.assign(rows, 1.5f);
    EXPECT_EQ(IncoherentLinear(PackQuantizedMatrix(q)).WeightBytes(), code_bytes + 4 * 2);
    q.incoherence.rescale.assign(cols, 2.0f);
    EXPECT_EQ(IncoherentLinear(PackQuantizedMatrix(q)).WeightBytes(), code_bytes + 4 * (2 + cols));
    q.row_zero[rows - 1] = 2.0f;  // one row's zero differs: zeros per row, the scale still shared
    EXPECT_EQ(IncoherentLinear(PackQuantizedMatrix(q)).WeightBytes(), code_bytes + 4 * (1 + rows + cols));
    q.row_scale[0] = 0.5f;  // and the scales too
    EXPECT_EQ(IncoherentLinear(PackQuantizedMatrix(q)).WeightBytes(), code_bytes + 4 * (2 * rows + cols));
    q.row_zero[rows - 1] = 1.5f;
    q.incoherence.rescale.clear();
    EXPECT_EQ(IncoherentLinear(PackQuantizedMatrix(q)).WeightBytes(), code_bytes + 4 * (rows + 1));
  }
  // Real quantizer outputs: QuIP's one-scale grid is uniform, the min/max baseline is per row.
  const QuantizedMatrix quip = Quantize(67, 130, 2, true, true, 9);
  EXPECT_EQ(IncoherentLinear(PackQuantizedMatrix(quip)).WeightBytes(), 67 * PackedBytes(130, 2) + 4 * (2 + 130));
  EXPECT_EQ(IncoherentLinear(PackQuantizedMatrix(quip)).Format(), "quip-2bit");
  const QuantizedMatrix minmax = Quantize(67, 130, 4, false, false, 9);
  EXPECT_EQ(IncoherentLinear(PackQuantizedMatrix(minmax)).WeightBytes(), 67 * PackedBytes(130, 4) + 4 * (2 * 67));
  EXPECT_EQ(IncoherentLinear(PackQuantizedMatrix(minmax)).Format(), "minmax-4bit");
}

}  // namespace
}  // namespace quip
