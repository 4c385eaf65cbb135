// GCC 12 reports the AVX-512 intrinsics inside Eigen's double-precision gemm packing
// (instantiated here for the double checks) as maybe-uninitialized: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "train/train_block.h"

#include <cmath>
#include <limits>

#include "core/error.h"

namespace quip::train {
namespace {

// q or k [ntok, heads·head_dim]: pairs (i, i + half) of each head rotated by the angle of
// the token's position (rotate_half); `inverse` rotates back, which is also the transpose.
template <typename T>
void Rope(Mat<T>& m, int head_dim, const RopeTable<T>& rope, bool inverse) {
  const int half = head_dim / 2, heads = int(m.cols()) / head_dim;
  for (int t = 0; t < m.rows(); ++t) {
    const T* cos = &rope.cos[size_t(t) * half];
    const T* sin = &rope.sin[size_t(t) * half];
    for (int h = 0; h < heads; ++h) {
      T* v = m.row(t).data() + h * head_dim;
      for (int i = 0; i < half; ++i) {
        const T a = v[i], b = v[i + half], s = inverse ? -sin[i] : sin[i];
        v[i] = a * cos[i] - b * s;
        v[i + half] = a * s + b * cos[i];
      }
    }
  }
}

template <typename T>
T Sigmoid(T x) {
  return T(1) / (T(1) + std::exp(-x));
}

// The Llama block this training form computes: separate q/k/v and gate/up, no biases, no
// per-head or sandwich norms, full causal attention.
const LlamaConfig& CheckTrainable(const LlamaConfig& c, const LayerWeights& w, const std::string& prefix) {
  QUIP_CHECK_INPUT(c.sliding_window == 0 && w.sliding_window == 0, prefix,
                   "fine-tuning supports full causal attention only, not a sliding window");
  QUIP_CHECK_INPUT(w.q && w.k && w.v && w.o && w.gate && w.up && w.down && !w.q_bias.data && !w.k_bias.data &&
                       !w.v_bias.data && !w.o_bias.data && !w.q_norm.data && !w.k_norm.data &&
                       !w.post_attn_norm.data && !w.post_ffn_norm.data,
                   prefix,
                   "fine-tuning supports the Llama block only (no fused q/k/v or gate/up, biases, q/k norms or "
                   "sandwich norms)");
  return c;
}

}  // namespace

template <typename T>
RopeTable<T>::RopeTable(const LlamaConfig& c, int positions) : half(c.head_dim / 2) {
  cos.resize(size_t(positions) * half);
  sin.resize(cos.size());
  // The same float values as ForwardScratch's table (angles in double, rounded to float).
  for (int pos = 0; pos < positions; ++pos)
    for (int i = 0; i < half; ++i) {
      const double inv_freq = 1.0 / std::pow(double(c.rope_theta), 2.0 * i / c.head_dim);
      cos[size_t(pos) * half + i] = T(static_cast<float>(std::cos(pos * inv_freq)));
      sin[size_t(pos) * half + i] = T(static_cast<float>(std::sin(pos * inv_freq)));
    }
}

template <typename T>
void RmsNormForward(const Mat<T>& x, const std::vector<T>& gain, float eps, Mat<T>& out, std::vector<T>& inv_rms) {
  const int n = int(x.cols());
  out.resize(x.rows(), n);
  inv_rms.resize(x.rows());
  for (int t = 0; t < x.rows(); ++t) {
    double sum_sq = 0.0;
    for (int i = 0; i < n; ++i) sum_sq += double(x(t, i)) * double(x(t, i));
    const T r = T(1.0 / std::sqrt(sum_sq / n + eps));
    inv_rms[t] = r;
    for (int i = 0; i < n; ++i) out(t, i) = gain[i] * (x(t, i) * r);
  }
}

// out = g ⊙ x̂, x̂ = x·r, r = (mean x² + eps)^(-1/2):
// ∂L/∂g = Σ_t dout ⊙ x̂, ∂L/∂x = r·(dx̂ − x̂·mean(dx̂ ⊙ x̂)) with dx̂ = dout ⊙ g.
template <typename T>
void RmsNormBackward(const Mat<T>& x, const std::vector<T>& gain, const std::vector<T>& inv_rms, const Mat<T>& dout,
                     Mat<T>& dx, std::vector<T>& gain_grad) {
  const int n = int(x.cols());
  std::vector<T> dxhat(n);
  for (int t = 0; t < x.rows(); ++t) {
    const T r = inv_rms[t];
    T dot = 0;
    for (int i = 0; i < n; ++i) {
      const T xhat = x(t, i) * r;
      gain_grad[i] += dout(t, i) * xhat;
      dxhat[i] = dout(t, i) * gain[i];
      dot += dxhat[i] * xhat;
    }
    dot /= T(n);
    for (int i = 0; i < n; ++i) dx(t, i) += r * (dxhat[i] - x(t, i) * r * dot);
  }
}

template <typename T>
TrainBlock<T>::TrainBlock(const LlamaConfig& c, const LayerWeights& w, const std::string& prefix, Param<T>* table)
    : c_(CheckTrainable(c, w, prefix)),
      q_(*w.q, prefix + "self_attn.q_proj", table),
      k_(*w.k, prefix + "self_attn.k_proj", table),
      v_(*w.v, prefix + "self_attn.v_proj", table),
      o_(*w.o, prefix + "self_attn.o_proj", table),
      gate_(*w.gate, prefix + "mlp.gate_proj", table),
      up_(*w.up, prefix + "mlp.up_proj", table),
      down_(*w.down, prefix + "mlp.down_proj", table) {
  attn_norm_.Init(prefix + "input_layernorm.weight", std::vector<T>(w.attn_norm.data, w.attn_norm.data + c.dim));
  ffn_norm_.Init(prefix + "post_attention_layernorm.weight", std::vector<T>(w.ffn_norm.data, w.ffn_norm.data + c.dim));
}

template <typename T>
void TrainBlock<T>::Forward(Mat<T>& x, Saved& s, const RopeTable<T>& rope) const {
  const int ntok = int(x.rows()), hd = c_.head_dim, group = c_.n_heads / c_.n_kv_heads;
  QUIP_ASSERT(size_t(ntok) * rope.half <= rope.cos.size());
  s.x_in = x;
  RmsNormForward(x, attn_norm_.value, c_.norm_eps, s.n1, s.inv_rms1);
  q_.Forward(s.n1, s.q, s.lq);
  k_.Forward(s.n1, s.k, s.lk);
  v_.Forward(s.n1, s.v, s.lv);
  Rope(s.q, hd, rope, false);
  Rope(s.k, hd, rope, false);
  // Causal attention per query head; head h reads key/value head h / group (GQA).
  const T inv_sqrt_d = T(1.0f / std::sqrt(float(hd)));
  s.attn.resize(ntok, c_.q_dim());
  s.probs.resize(c_.n_heads);
  for (int h = 0; h < c_.n_heads; ++h) {
    const int kv = h / group;
    Mat<T>& p = s.probs[h];
    p.noalias() = inv_sqrt_d * (s.q.middleCols(h * hd, hd) * s.k.middleCols(kv * hd, hd).transpose());
    for (int i = 0; i < ntok; ++i) {
      T max = p(i, 0);
      for (int j = 1; j <= i; ++j) max = std::max(max, p(i, j));
      T sum = 0;
      for (int j = 0; j <= i; ++j) sum += (p(i, j) = std::exp(p(i, j) - max));
      for (int j = 0; j <= i; ++j) p(i, j) /= sum;
      for (int j = i + 1; j < ntok; ++j) p(i, j) = 0;
    }
    s.attn.middleCols(h * hd, hd).noalias() = p * s.v.middleCols(kv * hd, hd);
  }
  Mat<T> out;
  o_.Forward(s.attn, out, s.lo);
  x += out;
  s.x_mid = x;
  RmsNormForward(x, ffn_norm_.value, c_.norm_eps, s.n2, s.inv_rms2);
  gate_.Forward(s.n2, s.gate, s.lgate);
  up_.Forward(s.n2, s.up, s.lup);
  s.hidden = s.gate.unaryExpr([](T g) { return g * Sigmoid(g); }).cwiseProduct(s.up);
  down_.Forward(s.hidden, out, s.ldown);
  x += out;
}

template <typename T>
void TrainBlock<T>::Backward(Mat<T>& dx, const Saved& s, const RopeTable<T>& rope) {
  const int ntok = int(dx.rows()), hd = c_.head_dim, group = c_.n_heads / c_.n_kv_heads;
  // MLP: x_out = x_mid + down(silu(gate n2) ⊙ up n2).
  Mat<T> dhidden;
  down_.Backward(dx, s.ldown, &dhidden);
  Mat<T> dgate(ntok, c_.hidden_dim), dup(ntok, c_.hidden_dim);
  for (int t = 0; t < ntok; ++t)
    for (int i = 0; i < c_.hidden_dim; ++i) {
      const T g = s.gate(t, i), sig = Sigmoid(g);
      dup(t, i) = dhidden(t, i) * g * sig;
      dgate(t, i) = dhidden(t, i) * s.up(t, i) * sig * (T(1) + g * (T(1) - sig));
    }
  Mat<T> dn2;
  gate_.Backward(dgate, s.lgate, &dn2);
  up_.Backward(dup, s.lup, &dn2);
  RmsNormBackward(s.x_mid, ffn_norm_.value, s.inv_rms2, dn2, dx, ffn_norm_.grad);

  // Attention: x_mid = x_in + o(attn).
  Mat<T> dattn;
  o_.Backward(dx, s.lo, &dattn);
  const T inv_sqrt_d = T(1.0f / std::sqrt(float(hd)));
  Mat<T> dq = Mat<T>::Zero(ntok, c_.q_dim()), dk = Mat<T>::Zero(ntok, c_.kv_dim()),
         dv = Mat<T>::Zero(ntok, c_.kv_dim());
  for (int h = 0; h < c_.n_heads; ++h) {
    const int kv = h / group;
    const Mat<T>& p = s.probs[h];
    const auto dout = dattn.middleCols(h * hd, hd);
    dv.middleCols(kv * hd, hd).noalias() += p.transpose() * dout;
    Mat<T> ds = dout * s.v.middleCols(kv * hd, hd).transpose();  // ∂L/∂P
    // Softmax: ∂L/∂S = P ⊙ (∂L/∂P − rowsum(P ⊙ ∂L/∂P)); masked entries have P = 0.
    for (int i = 0; i < ntok; ++i) {
      T dot = 0;
      for (int j = 0; j <= i; ++j) dot += p(i, j) * ds(i, j);
      for (int j = 0; j < ntok; ++j) ds(i, j) = j <= i ? p(i, j) * (ds(i, j) - dot) : T(0);
    }
    dq.middleCols(h * hd, hd).noalias() += inv_sqrt_d * (ds * s.k.middleCols(kv * hd, hd));
    dk.middleCols(kv * hd, hd).noalias() += inv_sqrt_d * (ds.transpose() * s.q.middleCols(h * hd, hd));
  }
  Rope(dq, hd, rope, true);
  Rope(dk, hd, rope, true);
  Mat<T> dn1;
  q_.Backward(dq, s.lq, &dn1);
  k_.Backward(dk, s.lk, &dn1);
  v_.Backward(dv, s.lv, &dn1);
  RmsNormBackward(s.x_in, attn_norm_.value, s.inv_rms1, dn1, dx, attn_norm_.grad);
}

template <typename T>
std::vector<Param<T>*> TrainBlock<T>::Params() {
  std::vector<Param<T>*> out{&attn_norm_, &ffn_norm_};
  for (TrainLinear<T>* l : {&q_, &k_, &v_, &o_, &gate_, &up_, &down_})
    for (Param<T>* p : l->Params()) out.push_back(p);
  return out;
}

template <typename T>
void TrainBlock<T>::ExportTo(LayerWeights& w, std::vector<StorageOwner>& owners) const {
  auto norm = [&](const Param<T>& p) {
    return OwnFloats(std::vector<float>(p.value.begin(), p.value.end()), {int64_t(p.value.size())}, owners);
  };
  w.attn_norm = norm(attn_norm_);
  w.ffn_norm = norm(ffn_norm_);
  const std::pair<const TrainLinear<T>*, std::unique_ptr<Linear>*> linears[] = {
      {&q_, &w.q}, {&k_, &w.k}, {&v_, &w.v}, {&o_, &w.o}, {&gate_, &w.gate}, {&up_, &w.up}, {&down_, &w.down}};
  for (const auto& [train, slot] : linears)
    if (std::unique_ptr<Linear> tuned = train->Export()) *slot = std::move(tuned);
}

template struct RopeTable<float>;
template struct RopeTable<double>;
template class TrainBlock<float>;
template class TrainBlock<double>;
template void RmsNormForward(const Mat<float>&, const std::vector<float>&, float, Mat<float>&, std::vector<float>&);
template void RmsNormForward(const Mat<double>&, const std::vector<double>&, float, Mat<double>&,
                             std::vector<double>&);
template void RmsNormBackward(const Mat<float>&, const std::vector<float>&, const std::vector<float>&,
                              const Mat<float>&, Mat<float>&, std::vector<float>&);
template void RmsNormBackward(const Mat<double>&, const std::vector<double>&, const std::vector<double>&,
                              const Mat<double>&, Mat<double>&, std::vector<double>&);

}  // namespace quip::train
