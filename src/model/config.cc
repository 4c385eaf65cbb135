#include "model/config.h"

#include <cmath>
#include <numbers>

#include "core/error.h"

namespace quip {

int LlamaConfig::WindowOf(int layer) const {
  if (!sliding_layers.empty() && !sliding_layers.at(size_t(layer))) return 0;
  return sliding_window;
}

float LlamaConfig::AttentionScale() const {
  return 1.0f / std::sqrt(query_pre_attn_scalar > 0.0f ? query_pre_attn_scalar : float(head_dim));
}

// As transformers' modeling_rope_utils (_compute_default/linear/llama3_parameters), in double.
std::vector<double> LlamaConfig::RopeInverseFrequencies(bool local) const {
  const int half = head_dim / 2;
  std::vector<double> inv(half);
  const double base = local ? rope_local_theta : rope_theta;
  for (int i = 0; i < half; ++i) inv[i] = 1.0 / std::pow(base, 2.0 * i / head_dim);
  if (local) return inv;  // Gemma 3's sliding layers are never scaled
  const RopeScaling& r = rope_scaling;
  if (r.type == "linear") {
    for (double& f : inv) f /= r.factor;
  } else if (r.type == "llama3") {
    const double old_len = r.original_max_position_embeddings;
    const double low_freq_wavelen = old_len / r.low_freq_factor, high_freq_wavelen = old_len / r.high_freq_factor;
    for (double& f : inv) {
      const double wavelen = 2.0 * std::numbers::pi / f;
      if (wavelen > low_freq_wavelen) {
        f /= r.factor;
      } else if (wavelen >= high_freq_wavelen) {  // between: interpolate
        const double smooth = (old_len / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
        f = (1.0 - smooth) * f / r.factor + smooth * f;
      }
    }
  }
  return inv;
}

void LlamaConfig::Validate(const std::string& where) const {
  // Bounds far above any real model, low enough that sizes fit comfortably in int64.
  constexpr int kMaxDim = 1 << 17, kMaxLayers = 4096, kMaxVocab = 1 << 22, kMaxSeq = 1 << 22;
  auto in_range = [&](int v, int lo, int hi, const char* name) {
    QUIP_CHECK_INPUT(v >= lo && v <= hi, where, "{} = {} is out of range [{}, {}]", name, v, lo, hi);
  };
  in_range(dim, 1, kMaxDim, "hidden_size");
  in_range(hidden_dim, 1, 8 * kMaxDim, "intermediate_size");
  in_range(n_layers, 1, kMaxLayers, "num_hidden_layers");
  in_range(n_heads, 1, kMaxDim, "num_attention_heads");
  in_range(n_kv_heads, 1, kMaxDim, "num_key_value_heads");
  in_range(head_dim, 2, kMaxDim, "head_dim");
  in_range(vocab_size, 1, kMaxVocab, "vocab_size");
  in_range(max_seq_len, 1, kMaxSeq, "max_position_embeddings");
  QUIP_CHECK_INPUT(n_heads % n_kv_heads == 0, where, "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                   n_heads, n_kv_heads);
  // q_dim() and kv_dim() are int products: bound them before anyone multiplies.
  QUIP_CHECK_INPUT(int64_t{n_heads} * head_dim <= 8 * kMaxDim, where,
                   "num_attention_heads {} x head_dim {} = {} is out of range [1, {}]", n_heads, head_dim,
                   int64_t{n_heads} * head_dim, 8 * kMaxDim);
  QUIP_CHECK_INPUT(head_dim % 2 == 0, where, "head_dim {} must be even for RoPE", head_dim);
  QUIP_CHECK_INPUT(sliding_window >= 0, where, "sliding_window {} must be positive", sliding_window);
  QUIP_CHECK_INPUT(norm_eps > 0.0f, where, "rms_norm_eps must be positive");
  QUIP_CHECK_INPUT(rope_theta > 0.0f, where, "rope_theta must be positive");
  QUIP_CHECK_INPUT(bos_id >= 0 && bos_id < vocab_size, where, "bos_token_id {} is outside the vocabulary", bos_id);
  QUIP_CHECK_INPUT(sliding_layers.empty() || int(sliding_layers.size()) == n_layers, where,
                   "layer_types lists {} layers but num_hidden_layers is {}", sliding_layers.size(), n_layers);
  QUIP_CHECK_INPUT(eos_id >= 0 && eos_id < vocab_size, where, "eos_token_id {} is outside the vocabulary", eos_id);
}

int64_t LlamaConfig::ParameterCount() const {
  const int64_t d = dim;
  const int64_t per_layer = (sandwich_norms ? 4 : 2) * d + d * q_dim() + 2 * d * kv_dim() + int64_t{q_dim()} * d +
                            3 * d * hidden_dim + (qkv_bias ? q_dim() + 2 * kv_dim() : 0) + (o_bias ? d : 0) +
                            (qk_norm ? 2 * head_dim : 0);
  const int64_t embed = int64_t{vocab_size} * d;
  return embed + (tied_embeddings ? 0 : embed) + n_layers * per_layer + d;
}

}  // namespace quip
