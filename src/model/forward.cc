#include "model/forward.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/parallel.h"
#include "kernels/dense_matmul.h"
#include "kernels/softmax.h"

namespace quip {
namespace {

// out = x / sqrt(mean(x^2) + eps) * (offset + weight), as HF LlamaRMSNorm (offset 0) and
// GemmaRMSNorm (offset 1), the mean in higher precision. out may be x.
void RmsNorm(const float* x, const float* weight, int n, float eps, float offset, float* out) {
  double sum_sq = 0.0;
  for (int i = 0; i < n; ++i) sum_sq += double(x[i]) * x[i];
  const float inv_rms = static_cast<float>(1.0 / std::sqrt(sum_sq / n + eps));
  for (int i = 0; i < n; ++i) out[i] = (offset + weight[i]) * (x[i] * inv_rms);
}

// `rows` rows of width `width` (a token's hidden state, or one head of q or k).
void RmsNormRows(const float* x, const TensorView& weight, int rows, int width, const LlamaConfig& c, float* out) {
  for (int t = 0; t < rows; ++t)
    RmsNorm(x + size_t(t) * width, weight.data, width, c.norm_eps, c.norm_offset, out + size_t(t) * width);
}

void AddBias(float* y, const TensorView& bias, int ntok) {
  if (!bias.data) return;
  const int n = int(bias.numel());
  for (int t = 0; t < ntok; ++t)
    for (int i = 0; i < n; ++i) y[size_t(t) * n + i] += bias.data[i];
}

// Row t of the fused output [ntok, sum(widths)] split into the outputs' rows [ntok, width].
void SplitColumns(const float* fused, int ntok, std::initializer_list<std::pair<float*, int>> outputs) {
  int total = 0;
  for (const auto& o : outputs) total += o.second;
  for (int t = 0; t < ntok; ++t) {
    const float* row = fused + size_t(t) * total;
    for (const auto& [out, width] : outputs) {
      std::memcpy(out + size_t(t) * width, row, width * sizeof(float));
      row += width;
    }
  }
}

// rotate_half RoPE on each head of one token's q or k: pairs (i, i + head_dim/2).
void ApplyRope(float* vec, int n_heads, int head_dim, const float* cos, const float* sin) {
  const int half = head_dim / 2;
  for (int h = 0; h < n_heads; ++h) {
    float* v = vec + h * head_dim;
    for (int i = 0; i < half; ++i) {
      const float a = v[i], b = v[i + half];
      v[i] = a * cos[i] - b * sin[i];
      v[i + half] = a * sin[i] + b * cos[i];
    }
  }
}

float Silu(float x) { return x / (1.0f + std::exp(-x)); }

// HF's gelu_pytorch_tanh.
float GeluTanh(float x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * (x + 0.044715f * x * x * x)));
}

void SoftCap(float* v, size_t n, float cap) {
  for (size_t i = 0; i < n; ++i) v[i] = cap * std::tanh(v[i] / cap);
}

void FillRope(const std::vector<double>& inv_freq, int max_seq_len, std::vector<float>& cos, std::vector<float>& sin) {
  const size_t half = inv_freq.size();
  cos.resize(size_t(max_seq_len) * half);
  sin.resize(cos.size());
  for (int pos = 0; pos < max_seq_len; ++pos)
    for (size_t i = 0; i < half; ++i) {
      cos[size_t(pos) * half + i] = static_cast<float>(std::cos(pos * inv_freq[i]));
      sin[size_t(pos) * half + i] = static_cast<float>(std::sin(pos * inv_freq[i]));
    }
}

// The window every layer uses, or 0 when some layer attends to the whole context.
int UniformWindow(const LlamaConfig& c) {
  for (int l = 0; l < c.n_layers; ++l)
    if (c.WindowOf(l) != c.sliding_window) return 0;
  return c.sliding_window;
}

}  // namespace

KvCache::KvCache(const LlamaConfig& config, int capacity, int layers, int max_batch)
    : capacity_(capacity),
      kv_dim_(config.kv_dim()),
      layers_(layers < 0 ? config.n_layers : layers),
      window_(max_batch > 0 ? UniformWindow(config) : 0),
      slots_(window_ > 0 ? std::min(capacity, window_ - 1 + max_batch) : capacity),
      keys_(size_t(layers_) * slots_ * config.kv_dim()),
      values_(keys_.size()) {}

void KvCache::MakeRoom(int pos0, int ntok) {
  QUIP_ASSERT(pos0 + ntok <= capacity_);
  if (pos0 < base_) base_ = 0;  // a new sequence
  if (pos0 + ntok - base_ <= slots_) return;
  const int keep_from = std::max(0, pos0 - window_ + 1);  // the first position a query of the batch sees
  QUIP_ASSERT(window_ > 0 && keep_from >= base_ && pos0 + ntok - keep_from <= slots_);
  const size_t row = size_t(kv_dim_), live = size_t(pos0 - keep_from) * row;
  for (int l = 0; l < layers_; ++l)
    for (std::vector<float>* cache : {&keys_, &values_}) {
      float* layer = cache->data() + size_t(l) * slots_ * row;
      std::memmove(layer, layer + size_t(keep_from - base_) * row, live * sizeof(float));
    }
  base_ = keep_from;
}

ForwardScratch::ForwardScratch(const LlamaConfig& c, int max_tokens_in) : max_tokens(max_tokens_in) {
  const size_t n = size_t(max_tokens);
  normed.resize(n * c.dim);
  q.resize(n * c.q_dim());
  k.resize(n * c.kv_dim());
  v.resize(n * c.kv_dim());
  attn.resize(n * c.q_dim());
  gate.resize(n * c.hidden_dim);
  up.resize(n * c.hidden_dim);
  hidden.resize(n * c.dim);
  if (c.fused_qkv || c.fused_gate_up)
    fused.resize(n * std::max(c.fused_qkv ? c.q_dim() + 2 * c.kv_dim() : 0, c.fused_gate_up ? 2 * c.hidden_dim : 0));
  // Angles in double, like HF's fp32 inv_freq * position up to rounding, but exact for long contexts.
  FillRope(c.RopeInverseFrequencies(), c.max_seq_len, rope_cos, rope_sin);
  if (c.rope_local_theta > 0.0f) FillRope(c.RopeInverseFrequencies(true), c.max_seq_len, local_rope_cos, local_rope_sin);
}

void Embed(const Model& model, std::span<const int> tokens, float* x) {
  const int dim = model.config.dim;
  for (size_t t = 0; t < tokens.size(); ++t) {
    QUIP_CHECK_INPUT(tokens[t] >= 0 && tokens[t] < model.config.vocab_size, model.source,
                     "token id {} is outside the model's vocabulary of {}", tokens[t], model.config.vocab_size);
    std::memcpy(x + t * dim, model.token_embedding.row(tokens[t]), dim * sizeof(float));
    if (model.config.embed_scale != 1.0f)
      for (int i = 0; i < dim; ++i) x[t * dim + i] *= model.config.embed_scale;
  }
}

void RunBlock(const Model& model, int layer, float* x, int ntok, int pos0, KvCache& cache, ForwardScratch& s,
              LinearInputObserver* observer) {
  RunBlock(model.config, model.layers[layer], layer, x, ntok, pos0, cache, s, observer);
}

void RunBlock(const LlamaConfig& c, const LayerWeights& w, int layer, float* x, int ntok, int pos0, KvCache& cache,
              ForwardScratch& s, LinearInputObserver* observer, LinearInput from) {
  QUIP_ASSERT(ntok <= s.max_tokens && pos0 + ntok <= cache.capacity());
  const int dim = c.dim, qd = c.q_dim(), kvd = c.kv_dim(), hd = c.head_dim, half = hd / 2;
  // Shows a linear's input to the observer; true when the observer needs no more of the block.
  auto observe = [&](LinearInput which, const float* input, int width) {
    if (!observer) return false;
    observer->Observe(layer, which, input, ntok, width);
    return observer->StopAfter(which);
  };

  if (from == LinearInput::kQkv) {
    // Attention: x += Wo * attention(RoPE(Wq n), RoPE(Wk n), Wv n) with n = RMSNorm(x).
    RmsNormRows(x, w.attn_norm, ntok, dim, c, s.normed.data());
    if (observe(LinearInput::kQkv, s.normed.data(), dim)) return;
    if (w.qkv) {
      w.qkv->Forward(s.normed.data(), ntok, s.fused.data());
      SplitColumns(s.fused.data(), ntok, {{s.q.data(), qd}, {s.k.data(), kvd}, {s.v.data(), kvd}});
    } else {
      w.q->Forward(s.normed.data(), ntok, s.q.data());
      w.k->Forward(s.normed.data(), ntok, s.k.data());
      w.v->Forward(s.normed.data(), ntok, s.v.data());
    }
    AddBias(s.q.data(), w.q_bias, ntok);
    AddBias(s.k.data(), w.k_bias, ntok);
    AddBias(s.v.data(), w.v_bias, ntok);
    if (c.qk_norm) {  // each head of each token on its own, before RoPE
      RmsNormRows(s.q.data(), w.q_norm, ntok * c.n_heads, hd, c, s.q.data());
      RmsNormRows(s.k.data(), w.k_norm, ntok * c.n_kv_heads, hd, c, s.k.data());
    }
    const std::vector<float>& rope_cos = w.local_rope ? s.local_rope_cos : s.rope_cos;
    const std::vector<float>& rope_sin = w.local_rope ? s.local_rope_sin : s.rope_sin;
    for (int t = 0; t < ntok; ++t) {
      const int pos = pos0 + t;
      const float* cos = &rope_cos[size_t(pos) * half];
      const float* sin = &rope_sin[size_t(pos) * half];
      ApplyRope(&s.q[size_t(t) * qd], c.n_heads, hd, cos, sin);
      ApplyRope(&s.k[size_t(t) * kvd], c.n_kv_heads, hd, cos, sin);
      std::memcpy(cache.key(layer, pos), &s.k[size_t(t) * kvd], kvd * sizeof(float));
      std::memcpy(cache.value(layer, pos), &s.v[size_t(t) * kvd], kvd * sizeof(float));
    }

    // Causal attention as two BLAS products: S = Q K^T / sqrt(d) over all cached
    // positions, row-wise softmax with future positions masked, out = S V. Query and
    // key/value heads are read in place with row strides (no copies); a group of
    // n_heads / n_kv_heads query heads shares one key/value head (GQA).
    // Many tokens (prompt): one task per query head, M = ntok rows. One token (decoding):
    // one task per key/value head, its `group` query heads as the M rows, so each cached
    // K and V row is read once per group instead of once per head.
    // A sliding window (Mistral) lets position p see only [p - window + 1, p]: S then spans
    // the cached positions [first, pos0 + ntok) that some query of this batch can see, and
    // each row masks the positions before its own window.
    // Gemma scales by 1/sqrt(query_pre_attn_scalar) and Gemma 2 soft-caps the scores before the mask.
    const int group = c.n_heads / c.n_kv_heads;
    const int window = w.sliding_window > 0 ? w.sliding_window : pos0 + ntok;
    const int first = std::max(0, pos0 - window + 1);
    const int n_pos = pos0 + ntok - first;
    const float scale = c.AttentionScale();
    const bool decode = ntok == 1;
    kernels::ParallelTasks(decode ? c.n_kv_heads : c.n_heads, [&](int task) {
      thread_local std::vector<float> scores;
      const int rows = decode ? group : ntok;            // rows of S
      const int head = decode ? task * group : task;     // first query head
      const int kv_off = (head / group) * hd;
      const int q_stride = decode ? hd : qd;             // between rows of S's queries
      scores.resize(size_t(rows) * n_pos);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n_pos, hd, scale, &s.q[size_t(head) * hd],
                  q_stride, cache.key(layer, first) + kv_off, kvd, 0.0f, scores.data(), n_pos);
      for (int r = 0; r < rows; ++r) {
        float* row = &scores[size_t(r) * n_pos];
        const int pos = decode ? pos0 : pos0 + r;
        const int skip = std::max(0, pos - window + 1 - first);  // before this row's window
        if (c.attn_softcap > 0.0f) SoftCap(row + skip, size_t(pos + 1 - first - skip), c.attn_softcap);
        std::fill(row, row + skip, 0.0f);
        kernels::CausalSoftmax(row + skip, pos + 1 - first - skip, n_pos - skip);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, n_pos, 1.0f, scores.data(), n_pos,
                  cache.value(layer, first) + kv_off, kvd, 0.0f, &s.attn[size_t(head) * hd], q_stride);
    });
  }
  if (from <= LinearInput::kO) {
    if (observe(LinearInput::kO, s.attn.data(), qd)) return;
    w.o->Forward(s.attn.data(), ntok, s.hidden.data());
    AddBias(s.hidden.data(), w.o_bias, ntok);
    if (c.sandwich_norms) RmsNormRows(s.hidden.data(), w.post_attn_norm, ntok, dim, c, s.hidden.data());
    for (size_t i = 0; i < size_t(ntok) * dim; ++i) x[i] += s.hidden[i];
  }

  // Gated MLP: x += Wdown (act(Wgate n) * Wup n) with n = RMSNorm(x), act = SiLU (SwiGLU)
  // or tanh-GELU (GeGLU).
  if (from <= LinearInput::kGateUp) {
    RmsNormRows(x, w.ffn_norm, ntok, dim, c, s.normed.data());
    if (observe(LinearInput::kGateUp, s.normed.data(), dim)) return;
    if (w.gate_up) {
      w.gate_up->Forward(s.normed.data(), ntok, s.fused.data());
      SplitColumns(s.fused.data(), ntok, {{s.gate.data(), c.hidden_dim}, {s.up.data(), c.hidden_dim}});
    } else {
      w.gate->Forward(s.normed.data(), ntok, s.gate.data());
      w.up->Forward(s.normed.data(), ntok, s.up.data());
    }
    const size_t n_hidden = size_t(ntok) * c.hidden_dim;
    if (c.activation == Activation::kGeluTanh) {
      for (size_t i = 0; i < n_hidden; ++i) s.gate[i] = GeluTanh(s.gate[i]) * s.up[i];
    } else {
      for (size_t i = 0; i < n_hidden; ++i) s.gate[i] = Silu(s.gate[i]) * s.up[i];
    }
  }
  if (observe(LinearInput::kDown, s.gate.data(), c.hidden_dim)) return;
  w.down->Forward(s.gate.data(), ntok, s.hidden.data());
  if (c.sandwich_norms) RmsNormRows(s.hidden.data(), w.post_ffn_norm, ntok, dim, c, s.hidden.data());
  for (size_t i = 0; i < size_t(ntok) * dim; ++i) x[i] += s.hidden[i];
}

void ComputeLogits(const Model& model, const float* x, int ntok, float* normed_scratch, float* logits) {
  const LlamaConfig& c = model.config;
  RmsNormRows(x, model.final_norm, ntok, c.dim, c, normed_scratch);
  model.lm_head->Forward(normed_scratch, ntok, logits);
  if (c.final_softcap > 0.0f) SoftCap(logits, size_t(ntok) * c.vocab_size, c.final_softcap);
}

Session::Session(const Model& model, int capacity)
    : model_(model),
      cache_(model.config, capacity, -1, std::min(capacity, 512)),
      scratch_(model.config, std::min(capacity, 512)),
      x_(size_t(scratch_.max_tokens) * model.config.dim) {
  QUIP_CHECK_INPUT(capacity >= 1 && capacity <= model.config.max_seq_len, model.source,
                   "context of {} tokens exceeds max_position_embeddings {}", capacity, model.config.max_seq_len);
}

std::span<const float> Session::Feed(std::span<const int> tokens, bool all_logits,
                                     const std::function<void(int layer)>& after_block) {
  const int n = static_cast<int>(tokens.size());
  const int vocab = model_.config.vocab_size;
  QUIP_ASSERT(n > 0);
  QUIP_CHECK_INPUT(position_ + n <= cache_.capacity(), model_.source,
                   "sequence of {} tokens exceeds the context of {} tokens", position_ + n, cache_.capacity());
  logits_.resize(size_t(all_logits ? n : 1) * vocab);
  // Long inputs run in chunks of the scratch size; the KV cache joins them.
  for (int start = 0; start < n; start += scratch_.max_tokens) {
    const int len = std::min(scratch_.max_tokens, n - start);
    Embed(model_, tokens.subspan(start, len), x_.data());
    cache_.MakeRoom(position_, len);
    for (int l = 0; l < model_.config.n_layers; ++l) {
      RunBlock(model_, l, x_.data(), len, position_, cache_, scratch_);
      if (after_block) after_block(l);
    }
    position_ += len;
    if (all_logits) {
      ComputeLogits(model_, x_.data(), len, scratch_.normed.data(), &logits_[size_t(start) * vocab]);
    } else if (start + len == n) {
      ComputeLogits(model_, &x_[size_t(len - 1) * model_.config.dim], 1, scratch_.normed.data(), logits_.data());
    }
  }
  return logits_;
}

void SetThreads(int threads) {
  SetWorkerThreads(CapAtHardwareThreads(threads));
  UseSingleThreadedBlas();  // all parallel work runs on our pool (core/parallel.h)
}

}  // namespace quip
