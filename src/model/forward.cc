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

// out = x / sqrt(mean(x^2) + eps) * weight, as HF LlamaRMSNorm (mean in higher precision).
void RmsNorm(const float* x, const float* weight, int n, float eps, float* out) {
  double sum_sq = 0.0;
  for (int i = 0; i < n; ++i) sum_sq += double(x[i]) * x[i];
  const float inv_rms = static_cast<float>(1.0 / std::sqrt(sum_sq / n + eps));
  for (int i = 0; i < n; ++i) out[i] = weight[i] * (x[i] * inv_rms);
}

void RmsNormRows(const float* x, const TensorView& weight, int ntok, int dim, float eps, float* out) {
  for (int t = 0; t < ntok; ++t) RmsNorm(x + size_t(t) * dim, weight.data, dim, eps, out + size_t(t) * dim);
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

}  // namespace

KvCache::KvCache(const LlamaConfig& config, int capacity, int layers)
    : capacity_(capacity),
      kv_dim_(config.kv_dim()),
      keys_(size_t(layers < 0 ? config.n_layers : layers) * capacity * config.kv_dim()),
      values_(keys_.size()) {}

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
  // Angles in double, like HF's fp32 inv_freq * position up to rounding, but exact for long contexts.
  const int half = c.head_dim / 2;
  rope_cos.resize(size_t(c.max_seq_len) * half);
  rope_sin.resize(rope_cos.size());
  for (int pos = 0; pos < c.max_seq_len; ++pos)
    for (int i = 0; i < half; ++i) {
      const double inv_freq = 1.0 / std::pow(double(c.rope_theta), 2.0 * i / c.head_dim);
      rope_cos[size_t(pos) * half + i] = static_cast<float>(std::cos(pos * inv_freq));
      rope_sin[size_t(pos) * half + i] = static_cast<float>(std::sin(pos * inv_freq));
    }
}

void Embed(const Model& model, std::span<const int> tokens, float* x) {
  const int dim = model.config.dim;
  for (size_t t = 0; t < tokens.size(); ++t) {
    QUIP_CHECK_INPUT(tokens[t] >= 0 && tokens[t] < model.config.vocab_size, model.source,
                     "token id {} is outside the model's vocabulary of {}", tokens[t], model.config.vocab_size);
    std::memcpy(x + t * dim, model.token_embedding.row(tokens[t]), dim * sizeof(float));
  }
}

void RunBlock(const Model& model, int layer, float* x, int ntok, int pos0, KvCache& cache, ForwardScratch& s,
              LinearInputObserver* observer) {
  RunBlock(model.config, model.layers[layer], layer, x, ntok, pos0, cache, s, observer);
}

void RunBlock(const LlamaConfig& c, const LayerWeights& w, int layer, float* x, int ntok, int pos0, KvCache& cache,
              ForwardScratch& s, LinearInputObserver* observer) {
  QUIP_ASSERT(ntok <= s.max_tokens && pos0 + ntok <= cache.capacity());
  const int dim = c.dim, qd = c.q_dim(), kvd = c.kv_dim(), hd = c.head_dim, half = hd / 2;
  // Shows a linear's input to the observer; true when the observer needs no more of the block.
  auto observe = [&](LinearInput which, const float* input, int width) {
    if (!observer) return false;
    observer->Observe(layer, which, input, ntok, width);
    return observer->StopAfter(which);
  };

  // Attention: x += Wo * attention(RoPE(Wq n), RoPE(Wk n), Wv n) with n = RMSNorm(x).
  RmsNormRows(x, w.attn_norm, ntok, dim, c.norm_eps, s.normed.data());
  if (observe(LinearInput::kQkv, s.normed.data(), dim)) return;
  w.q->Forward(s.normed.data(), ntok, s.q.data());
  w.k->Forward(s.normed.data(), ntok, s.k.data());
  w.v->Forward(s.normed.data(), ntok, s.v.data());
  for (int t = 0; t < ntok; ++t) {
    const int pos = pos0 + t;
    const float* cos = &s.rope_cos[size_t(pos) * half];
    const float* sin = &s.rope_sin[size_t(pos) * half];
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
  const int group = c.n_heads / c.n_kv_heads;
  const int window = c.sliding_window > 0 ? c.sliding_window : pos0 + ntok;
  const int first = std::max(0, pos0 - window + 1);
  const int n_pos = pos0 + ntok - first;
  const float inv_sqrt_d = 1.0f / std::sqrt(float(hd));
  const bool decode = ntok == 1;
  kernels::ParallelTasks(decode ? c.n_kv_heads : c.n_heads, [&](int task) {
    thread_local std::vector<float> scores;
    const int rows = decode ? group : ntok;            // rows of S
    const int head = decode ? task * group : task;     // first query head
    const int kv_off = (head / group) * hd;
    const int q_stride = decode ? hd : qd;             // between rows of S's queries
    scores.resize(size_t(rows) * n_pos);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n_pos, hd, inv_sqrt_d, &s.q[size_t(head) * hd],
                q_stride, cache.key(layer, first) + kv_off, kvd, 0.0f, scores.data(), n_pos);
    for (int r = 0; r < rows; ++r) {
      float* row = &scores[size_t(r) * n_pos];
      const int pos = decode ? pos0 : pos0 + r;
      const int skip = std::max(0, pos - window + 1 - first);  // before this row's window
      std::fill(row, row + skip, 0.0f);
      kernels::CausalSoftmax(row + skip, pos + 1 - first - skip, n_pos - skip);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, n_pos, 1.0f, scores.data(), n_pos,
                cache.value(layer, first) + kv_off, kvd, 0.0f, &s.attn[size_t(head) * hd], q_stride);
  });
  if (observe(LinearInput::kO, s.attn.data(), qd)) return;
  w.o->Forward(s.attn.data(), ntok, s.hidden.data());
  for (size_t i = 0; i < size_t(ntok) * dim; ++i) x[i] += s.hidden[i];

  // SwiGLU MLP: x += Wdown (silu(Wgate n) * Wup n) with n = RMSNorm(x).
  RmsNormRows(x, w.ffn_norm, ntok, dim, c.norm_eps, s.normed.data());
  if (observe(LinearInput::kGateUp, s.normed.data(), dim)) return;
  w.gate->Forward(s.normed.data(), ntok, s.gate.data());
  w.up->Forward(s.normed.data(), ntok, s.up.data());
  const size_t n_hidden = size_t(ntok) * c.hidden_dim;
  for (size_t i = 0; i < n_hidden; ++i) s.gate[i] = Silu(s.gate[i]) * s.up[i];
  if (observe(LinearInput::kDown, s.gate.data(), c.hidden_dim)) return;
  w.down->Forward(s.gate.data(), ntok, s.hidden.data());
  for (size_t i = 0; i < size_t(ntok) * dim; ++i) x[i] += s.hidden[i];
}

void ComputeLogits(const Model& model, const float* x, int ntok, float* normed_scratch, float* logits) {
  RmsNormRows(x, model.final_norm, ntok, model.config.dim, model.config.norm_eps, normed_scratch);
  model.lm_head->Forward(normed_scratch, ntok, logits);
}

Session::Session(const Model& model, int capacity)
    : model_(model),
      cache_(model.config, capacity),
      scratch_(model.config, std::min(capacity, 512)),
      x_(size_t(scratch_.max_tokens) * model.config.dim) {
  QUIP_CHECK_INPUT(capacity >= 1 && capacity <= model.config.max_seq_len, model.source,
                   "context of {} tokens exceeds max_position_embeddings {}", capacity, model.config.max_seq_len);
}

std::span<const float> Session::Feed(std::span<const int> tokens, bool all_logits) {
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
    for (int l = 0; l < model_.config.n_layers; ++l)
      RunBlock(model_, l, x_.data(), len, position_, cache_, scratch_);
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
  kernels::UseSingleThreadedBlas();  // all parallel work runs on our pool
}

}  // namespace quip
