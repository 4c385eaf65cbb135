#include "quant/layer_transform.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "format/rotation.h"

namespace quip {
namespace {

double ToFloatPrecision(double x) { return double(float(x)); }

// D̃ in double (its values are floats, so exactly what is stored); empty when off.
Eigen::VectorXd RescaleOf(const LayerTransform& t) {
  const std::vector<float>& d = t.incoherence.rescale;
  return Eigen::Map<const Eigen::VectorXf>(d.data(), Eigen::Index(d.size())).cast<double>();
}

// r ← (r + rᵀ)/2, in place over 32×32 tile pairs. Bit for bit the same as the expression
// (x + y equals y + x in IEEE arithmetic) without its strided pass and temporary, which took
// 0.55 s on a 5632² Hessian.
void SymmetrizeInPlace(Eigen::MatrixXd& r) {
  constexpr Eigen::Index kTile = 32;
  const Eigen::Index n = r.rows();
  for (Eigen::Index j0 = 0; j0 < n; j0 += kTile)
    for (Eigen::Index i0 = 0; i0 <= j0; i0 += kTile) {
      const Eigen::Index i1 = std::min(i0 + kTile, n), j1 = std::min(j0 + kTile, n);
      for (Eigen::Index j = j0; j < j1; ++j)
        for (Eigen::Index i = i0; i < std::min(i1, j); ++i) r(i, j) = r(j, i) = 0.5 * (r(i, j) + r(j, i));
    }
}

}  // namespace

Eigen::VectorXd RescaleFactors(const Eigen::MatrixXd& W, const Eigen::VectorXd& diag_h) {
  const Eigen::VectorXd col_norm2 = W.colwise().squaredNorm().transpose();
  const double h_floor = 1e-8 * diag_h.mean(), w_floor = 1e-8 * col_norm2.mean();
  Eigen::VectorXd d(W.cols());
  for (int c = 0; c < W.cols(); ++c) {
    if (col_norm2[c] == 0.0) {
      d[c] = 1.0;
      continue;
    }
    const double ratio = std::max(diag_h[c], h_floor) / std::max(col_norm2[c], w_floor);
    d[c] = ToFloatPrecision(std::sqrt(std::sqrt(ratio)));
  }
  return d;
}

Eigen::MatrixXd ToTransformedBasis(const Eigen::MatrixXd& W, const LayerTransform& t) {
  const Incoherence& inc = t.incoherence;
  Eigen::MatrixXd r = W;
  if (!inc.rescale.empty()) r = r * RescaleOf(t).asDiagonal();
  if (inc.incoherent) {
    r = Rotation(inc.rotation, t.rows, inc.seed_u).LeftMultiply(r);
    r = Rotation(inc.rotation, t.cols, inc.seed_v).RightMultiplyTransposed(r);
  }
  return r;
}

Eigen::MatrixXd FromTransformedBasis(const Eigen::MatrixXd& Wp, const LayerTransform& t) {
  const Incoherence& inc = t.incoherence;
  Eigen::MatrixXd r = Wp;
  if (inc.incoherent) {
    r = Rotation(inc.rotation, t.rows, inc.seed_u).LeftMultiplyTransposed(r);
    r = Rotation(inc.rotation, t.cols, inc.seed_v).RightMultiply(r);
  }
  if (!inc.rescale.empty()) r = r * RescaleOf(t).cwiseInverse().asDiagonal();
  return r;
}

Eigen::MatrixXd TransformHessian(const Eigen::MatrixXd& H, const LayerTransform& t) {
  Eigen::MatrixXd r = H;
  const Incoherence& inc = t.incoherence;
  if (!inc.rescale.empty()) {
    const Eigen::VectorXd inv = RescaleOf(t).cwiseInverse();
    r = inv.asDiagonal() * r * inv.asDiagonal();
  }
  if (inc.incoherent) {
    const Rotation v(inc.rotation, t.cols, inc.seed_v);
    r = v.LeftMultiply(v.RightMultiplyTransposed(r));
    SymmetrizeInPlace(r);  // exact symmetry for the Cholesky
  }
  return r;
}

void SetSymmetricGrid(const Eigen::MatrixXd& Wp, double rho, int bits, LayerTransform* t) {
  QUIP_ASSERT(rho > 0.0);
  const double maxq = double((1 << bits) - 1);
  const double rms = Wp.norm() / std::sqrt(double(Wp.rows()) * double(Wp.cols()));
  // An all-zero matrix still needs a valid grid. Zero is not on this grid (the zero point
  // maxq/2 is a half-integer), so the step is the smallest normal float: the matrix then
  // dequantizes to ±FLT_MIN/2, i.e. zero, instead of ±rho/maxq (issue 6).
  const double s = rms > 0.0 ? rho * rms : std::numeric_limits<float>::min() * maxq / 2.0;
  t->row_scale = Eigen::VectorXd::Constant(Wp.rows(), ToFloatPrecision(2.0 * s / maxq));
  t->row_zero = Eigen::VectorXd::Constant(Wp.rows(), maxq / 2.0);
}

void SetMinMaxGrid(const Eigen::MatrixXd& Wp, int bits, LayerTransform* t) {
  const double maxq = double((1 << bits) - 1);
  t->row_scale.resize(Wp.rows());
  t->row_zero.resize(Wp.rows());
  for (int r = 0; r < Wp.rows(); ++r) {
    double lo = std::min(Wp.row(r).minCoeff(), 0.0), hi = std::max(Wp.row(r).maxCoeff(), 0.0);
    if (lo == hi) {
      lo = -1.0;
      hi = 1.0;
    }
    const double scale = ToFloatPrecision((hi - lo) / maxq);
    t->row_scale[r] = scale;
    t->row_zero[r] = std::nearbyint(-lo / scale);
  }
}

Eigen::MatrixXd ToGridUnits(const Eigen::MatrixXd& Wp, const LayerTransform& t) {
  Eigen::MatrixXd x = t.row_scale.cwiseInverse().asDiagonal() * Wp;
  x.colwise() += t.row_zero;
  return x;
}

Eigen::MatrixXd FromGridUnits(const Eigen::MatrixXd& X, const LayerTransform& t) {
  Eigen::MatrixXd w = X;
  w.colwise() -= t.row_zero;
  return t.row_scale.asDiagonal() * w;
}

Eigen::MatrixXd ToGrid(const Eigen::MatrixXd& W, const LayerTransform& t) {
  return ToGridUnits(ToTransformedBasis(W, t), t);
}

Eigen::MatrixXd FromGrid(const Eigen::MatrixXd& X, const LayerTransform& t) {
  return FromTransformedBasis(FromGridUnits(X, t), t);
}

LayerTransform TransformOf(const QuantizedMatrix& q) {
  QUIP_CHECK_INPUT(q.rows > 0 && q.cols > 0, "quantized matrix", "bad shape {}x{}", q.rows, q.cols);
  QUIP_CHECK_INPUT(q.row_scale.size() == size_t(q.rows) && q.row_zero.size() == size_t(q.rows), "quantized matrix",
                   "expected {} row scales and zeros, got {} and {}", q.rows, q.row_scale.size(), q.row_zero.size());
  QUIP_CHECK_INPUT(q.incoherence.rescale.empty() || q.incoherence.rescale.size() == size_t(q.cols),
                   "quantized matrix", "expected {} rescale factors, got {}", q.cols, q.incoherence.rescale.size());
  LayerTransform t;
  t.rows = q.rows;
  t.cols = q.cols;
  t.incoherence = q.incoherence;
  t.row_scale = Eigen::Map<const Eigen::VectorXf>(q.row_scale.data(), q.rows).cast<double>();
  t.row_zero = Eigen::Map<const Eigen::VectorXf>(q.row_zero.data(), q.rows).cast<double>();
  return t;
}

}  // namespace quip
