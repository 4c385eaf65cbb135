// GCC 12 reports the AVX-512 intrinsics inside Eigen's double-precision gemm packing
// (instantiated here for the double checks) as maybe-uninitialized: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "train/train_linear.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "core/error.h"
#include "format/trellis_tiles.h"
#include "model/codebook_matrix.h"
#include "model/incoherent_linear.h"

namespace quip::train {
namespace {

// `stored` borrowing its codes instead of owning a copy.
StoredLinear Borrowing(const StoredLinear& stored) {
  StoredLinear s = stored;
  s.owned_codes = {};
  s.borrowed_codes = stored.codes();
  return s;
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
TrainLinear<T>::TrainLinear(const Linear& layer, const std::string& name, Param<T>* code_table)
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
  stored_ = Borrowing(*s);
  source_owned_codes_ = s->borrowed_codes == nullptr;
  const Incoherence& inc = s->incoherence;
  std::vector<T> mult(cols_, T(1));
  for (size_t c = 0; c < inc.rescale.size(); ++c) mult[c] = T(1) / T(inc.rescale[c]);
  in_mult_.Init(name + ".input_multiplier", std::move(mult), /*keep_positive=*/true);
  per_row_scale_ = s->codebook == Codebook::kScalar;
  const bool hyb = s->codebook == Codebook::kTrellis && s->trellis_code == trellis::Code::kHyb;
  if (hyb && code_table) {
    QUIP_CHECK_INPUT(code_table->value.size() == s->code_table.size(), name, "the HYB table holds {} values, not {}",
                     s->code_table.size(), code_table->value.size());
    table_ = code_table;
  }
  // One decoder per basis: the stored layer with unit scales (and without the incoherence
  // vectors, which decoding does not read).
  auto decoder = [&](std::vector<float> unit) {
    StoredLinear d = *stored_;
    d.incoherence = {};
    d.scale = std::move(unit);
    return MakeCodebookMatrix(std::move(d));
  };
  if (per_row_scale_) {
    decoders_.push_back(decoder(std::vector<float>(s->scale.size(), 1.0f)));
  } else {
    for (size_t k = 0; k < s->scale.size(); ++k) {
      std::vector<float> unit(s->scale.size(), 0.0f);
      unit[k] = 1.0f;
      decoders_.push_back(decoder(std::move(unit)));
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
std::vector<uint16_t> TrainLinear<T>::HybEntries() const {
  using namespace trellis;
  const StoredLinear& s = *stored_;
  const int words = TileWords(s.bits), tiles_per_row = TilePadded(cols_) / kTileSide;
  std::vector<uint16_t> entries(size_t(rows_) * cols_);
  uint32_t stream[TileWords(4)];
  uint16_t tile[kTileWeights];
  for (int i = 0; i < TilePadded(rows_) / kTileSide; ++i)
    for (int j = 0; j < tiles_per_row; ++j) {
      std::memcpy(stream, s.codes() + (size_t(i) * tiles_per_row + j) * words * 4, size_t(words) * 4);
      HybTileEntries(stream, s.bits, tile);
      for (int e = 0; e < kTileWeights; ++e) {
        const int r = i * kTileSide + e / kTileSide, c = j * kTileSide + e % kTileSide;
        if (r < rows_ && c < cols_) entries[size_t(r) * cols_ + c] = tile[e];
      }
    }
  return entries;
}

template <typename T>
Mat<T> TrainLinear<T>::Basis(size_t k) const {
  Mat<T> b(rows_, cols_);
  if (table_) {  // in T from the tuned table (the finite-difference checks perturb it in double)
    const std::vector<uint16_t> entries = HybEntries();
    const T* table = table_->value.data();
    for (size_t i = 0; i < entries.size(); ++i) {
      const T v = table[entries[i] & ~trellis::kHybNegated];
      b.data()[i] = entries[i] & trellis::kHybNegated ? -v : v;
    }
    return b;
  }
  // Row chunks (a multiple of QTIP's 16-row blocks) through a small fp32 buffer.
  const CodebookMatrix& d = *decoders_[k];
  constexpr int kChunk = 64;
  const int padded = d.padded_cols();
  std::vector<float> tile(size_t(std::min(kChunk, rows_)) * padded);
  for (int r0 = 0; r0 < rows_; r0 += kChunk) {
    const int nr = std::min(kChunk, rows_ - r0);
    d.DecodeRows(r0, nr, tile.data());
    for (int r = 0; r < nr; ++r)
      for (int c = 0; c < cols_; ++c) b(r0 + r, c) = T(tile[size_t(r) * padded + c]);
  }
  return b;
}

template <typename T>
Mat<T> TrainLinear<T>::G() const {
  Mat<T> g = Basis(0);
  if (per_row_scale_) {
    for (int r = 0; r < rows_; ++r) g.row(r) *= scale_.value[r];
    return g;
  }
  g *= scale_.value[0];
  for (size_t k = 1; k < decoders_.size(); ++k) g += scale_.value[k] * Basis(k);
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
  saved.stage.resize(decoders_.size());
  if (per_row_scale_) {
    saved.stage[0].noalias() = saved.rotated * Basis(0).transpose();
    const auto s = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>(scale_.value.data(), rows_);
    y = (saved.stage[0].array().rowwise() * s).matrix();
  } else {
    y = Mat<T>::Zero(ntok, rows_);
    for (size_t k = 0; k < decoders_.size(); ++k) {
      saved.stage[k].noalias() = saved.rotated * Basis(k).transpose();
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
    for (size_t k = 0; k < decoders_.size(); ++k) scale_.grad[k] += (dz.array() * saved.stage[k].array()).sum();
  }
  if (table_) {
    // G = s·B, B[i][j] = ±table[e(i, j)]: ∂L/∂table[e] = s · Σ_{(i,j) reading e} ±(∂L/∂G)[i][j],
    // ∂L/∂G = dzᵀ · (V diag(m) x). Summed in double per entry (thousands of terms each).
    const Mat<T> dg = dz.transpose() * saved.rotated;
    const std::vector<uint16_t> entries = HybEntries();
    std::vector<double> sum(table_->grad.size(), 0.0);
    for (size_t i = 0; i < entries.size(); ++i) {
      const double g = double(dg.data()[i]);
      sum[entries[i] & ~trellis::kHybNegated] += entries[i] & trellis::kHybNegated ? -g : g;
    }
    for (size_t e = 0; e < sum.size(); ++e) table_->grad[e] += T(double(scale_.value[0]) * sum[e]);
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
  if (source_owned_codes_) {
    s.owned_codes.assign(s.codes(), s.codes() + size_t(s.CodeRows()) * s.RowBytes());
    s.borrowed_codes = nullptr;
  }
  if (table_) s.code_table.assign(table_->value.begin(), table_->value.end());
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
  for (size_t k = 0; k < decoders_.size(); ++k) f.basis.push_back(Basis(k));
  f.per_row_scale = per_row_scale_;
  if (table_) f.hyb_entries = HybEntries();
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
