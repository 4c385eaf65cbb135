// GCC 12 reports the AVX-512 intrinsics inside Eigen's double-precision gemm packing
// (instantiated here for the double checks) as maybe-uninitialized: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "train/train_linear.h"

#include <cmath>
#include <type_traits>

#include "core/error.h"
#include "model/codebook_matrix.h"
#include "model/incoherent_linear.h"

namespace quip::train {
namespace {

// G decoded with the given scales (the codes' padding columns dropped).
template <typename T>
Mat<T> Decode(const StoredLinear& stored, const std::vector<float>& scale) {
  StoredLinear s = stored;
  s.owned_codes.clear();
  s.borrowed_codes = stored.codes();
  s.scale = scale;
  const std::unique_ptr<CodebookMatrix> g = MakeCodebookMatrix(std::move(s));
  std::vector<float> tile(size_t(g->rows()) * g->padded_cols());
  g->DecodeRows(0, g->rows(), tile.data());
  Mat<T> out(stored.rows, stored.cols);
  for (int r = 0; r < stored.rows; ++r)
    for (int c = 0; c < stored.cols; ++c) out(r, c) = T(tile[size_t(r) * g->padded_cols() + c]);
  return out;
}

template <typename T>
T MeanAbs(const std::vector<T>& v) {
  double sum = 0;
  for (T x : v) sum += std::abs(double(x));
  return v.empty() || sum == 0 ? T(1) : T(sum / double(v.size()));
}

}  // namespace

template <typename T>
void Param<T>::Init(std::string n, std::vector<T> v, bool keep_positive) {
  name = std::move(n);
  value = std::move(v);
  grad.assign(value.size(), T(0));
  unit = MeanAbs(value);
  positive = keep_positive;
}

template <typename T>
TrainLinear<T>::TrainLinear(const Linear& layer, const std::string& name)
    : name_(name), rows_(layer.out_features()), cols_(layer.in_features()) {
  if (const TensorView* w = layer.dense_weight()) {
    if constexpr (std::is_same_v<T, float>) {
      dense_ = w->data;  // the Model outlives this layer
    } else {
      weight_ = Eigen::Map<const Mat<float>>(w->data, rows_, cols_).template cast<T>();
      dense_ = weight_.data();
    }
    return;
  }
  const StoredLinear* s = layer.stored_linear();
  QUIP_CHECK_INPUT(s != nullptr, name, "is neither a dense nor a quantized layer");
  stored_ = *s;  // borrowed codes stay borrowed (from the model's memory map); owned ones are copied
  const Incoherence& inc = s->incoherence;
  std::vector<T> mult(cols_, T(1));
  for (size_t c = 0; c < inc.rescale.size(); ++c) mult[c] = T(1) / T(inc.rescale[c]);
  in_mult_.Init(name + ".input_multiplier", std::move(mult), /*keep_positive=*/true);
  per_row_scale_ = s->codebook == Codebook::kScalar;
  if (per_row_scale_) {
    basis_.push_back(Decode<T>(*s, std::vector<float>(s->scale.size(), 1.0f)));
  } else {
    for (size_t k = 0; k < s->scale.size(); ++k) {
      std::vector<float> unit(s->scale.size(), 0.0f);
      unit[k] = 1.0f;
      basis_.push_back(Decode<T>(*s, unit));
    }
  }
  scale_.Init(name + ".scale", std::vector<T>(s->scale.begin(), s->scale.end()), /*keep_positive=*/true);
  std::vector<T> out(rows_, T(1));
  for (size_t r = 0; r < inc.output_scale.size(); ++r) out[r] = T(inc.output_scale[r]);
  out_mult_.Init(name + ".output_scale", std::move(out), /*keep_positive=*/true);
  if (inc.incoherent) {
    u_.emplace(inc.rotation, rows_, inc.seed_u);
    v_.emplace(inc.rotation, cols_, inc.seed_v);
    fast_u_.emplace(*u_);
    fast_v_.emplace(*v_);
  }
}

template <typename T>
Mat<T> TrainLinear<T>::G() const {
  if (per_row_scale_)
    return Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(scale_.value.data(), rows_).asDiagonal() * basis_[0];
  Mat<T> g = scale_.value[0] * basis_[0];
  for (size_t k = 1; k < basis_.size(); ++k) g += scale_.value[k] * basis_[k];
  return g;
}

template <typename T>
void TrainLinear<T>::Rotate(T* data, int ntok, bool output_side, bool transposed) const {
  if constexpr (std::is_same_v<T, float>) {
    const kernels::FastRotation& r = output_side ? *fast_u_ : *fast_v_;
    transposed ? r.ApplyTransposed(data, ntok) : r.Apply(data, ntok);
  } else {
    const Rotation& r = output_side ? *u_ : *v_;
    transposed ? r.ApplyTransposed(data, ntok) : r.Apply(data, ntok);
  }
}

template <typename T>
void TrainLinear<T>::Forward(const Mat<T>& x, Mat<T>& y, Saved& saved) const {
  QUIP_ASSERT(x.cols() == cols_);
  const int ntok = int(x.rows());
  saved.x = x;
  if (!quantized()) {
    y.noalias() = x * Dense().transpose();
    return;
  }
  const auto mult = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(in_mult_.value.data(), cols_);
  saved.rotated = (x.array().rowwise() * mult).matrix();
  if (v_) Rotate(saved.rotated.data(), ntok, false, false);
  saved.stage.resize(basis_.size());
  if (per_row_scale_) {
    saved.stage[0].noalias() = saved.rotated * basis_[0].transpose();
    const auto s = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(scale_.value.data(), rows_);
    y = (saved.stage[0].array().rowwise() * s).matrix();
  } else {
    y = Mat<T>::Zero(ntok, rows_);
    for (size_t k = 0; k < basis_.size(); ++k) {
      saved.stage[k].noalias() = saved.rotated * basis_[k].transpose();
      y += scale_.value[k] * saved.stage[k];
    }
  }
  if (u_) Rotate(y.data(), ntok, true, true);
  saved.unscaled = y;
  y.array().rowwise() *= Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(out_mult_.value.data(), rows_);
}

template <typename T>
void TrainLinear<T>::Backward(const Mat<T>& dy, const Saved& saved, Mat<T>* dx) {
  const int ntok = int(dy.rows());
  if (dx && dx->size() == 0) *dx = Mat<T>::Zero(ntok, cols_);
  if (!quantized()) {
    if (dx) dx->noalias() += dy * Dense();
    return;
  }
  const auto out = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(out_mult_.value.data(), rows_);
  const Eigen::Array<T, 1, Eigen::Dynamic> dout = (dy.array() * saved.unscaled.array()).colwise().sum();
  for (int r = 0; r < rows_; ++r) out_mult_.grad[r] += dout(r);
  Mat<T> dz = (dy.array().rowwise() * out).matrix();  // y = o ⊙ Uᵀ z: ∂L/∂z = U (o ⊙ ∂L/∂y)
  if (u_) Rotate(dz.data(), ntok, true, false);
  if (per_row_scale_) {
    const Eigen::Array<T, 1, Eigen::Dynamic> ds = (dz.array() * saved.stage[0].array()).colwise().sum();
    for (int r = 0; r < rows_; ++r) scale_.grad[r] += ds(r);
  } else {
    for (size_t k = 0; k < basis_.size(); ++k) scale_.grad[k] += (dz.array() * saved.stage[k].array()).sum();
  }
  Mat<T> da = dz * G();  // ∂L/∂(V diag(m) x)
  if (v_) Rotate(da.data(), ntok, false, true);
  const Eigen::Array<T, 1, Eigen::Dynamic> dm = (da.array() * saved.x.array()).colwise().sum();
  for (int c = 0; c < cols_; ++c) in_mult_.grad[c] += dm(c);
  if (dx) {
    const auto mult = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(in_mult_.value.data(), cols_);
    *dx += (da.array().rowwise() * mult).matrix();
  }
}

template <typename T>
std::vector<Param<T>*> TrainLinear<T>::Params() {
  if (!quantized()) return {};
  return {&in_mult_, &scale_, &out_mult_};
}

template <typename T>
std::unique_ptr<Linear> TrainLinear<T>::Export() const {
  if (!quantized()) return nullptr;
  StoredLinear s = *stored_;
  s.incoherence.rescale.resize(cols_);
  for (int c = 0; c < cols_; ++c) s.incoherence.rescale[c] = float(T(1) / in_mult_.value[c]);
  for (size_t k = 0; k < s.scale.size(); ++k) s.scale[k] = float(scale_.value[k]);
  s.incoherence.output_scale.assign(out_mult_.value.begin(), out_mult_.value.end());
  return std::make_unique<IncoherentLinear>(std::move(s));
}

template <typename T>
typename TrainLinear<T>::Frozen TrainLinear<T>::FrozenForm() const {
  Frozen f;
  if (!quantized()) {
    f.weight = Dense();
    return f;
  }
  f.basis = basis_;
  f.per_row_scale = per_row_scale_;
  if (v_) {
    f.v_rows = Mat<T>::Identity(cols_, cols_);
    Rotate(f.v_rows.data(), cols_, false, false);
  }
  if (u_) {
    f.ut_rows = Mat<T>::Identity(rows_, rows_);
    Rotate(f.ut_rows.data(), rows_, true, true);
  }
  return f;
}

template struct Param<float>;
template struct Param<double>;
template class TrainLinear<float>;
template class TrainLinear<double>;

}  // namespace quip::train
