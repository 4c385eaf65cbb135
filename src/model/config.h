// Architecture of a Llama-family decoder, independent of the file it came from.
//
// One struct covers every family quip runs (Llama 2/3, Mistral, Qwen 2/3, Phi-3, Gemma 2/3):
// each is the Llama block with some of the switches below set by its config.json
// (io/hf_model.cc says which family sets which). The defaults are plain Llama.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quip {

enum class Activation { kSilu, kGeluTanh };  // SwiGLU, GeGLU with the tanh-approximated GELU

// Hugging Face's rope_scaling: inverse frequencies of RoPE rescaled by `type`.
struct RopeScaling {
  std::string type;  // "" (none), "linear" (all divided by factor) or "llama3"
  double factor = 1.0;
  // llama3: wavelengths longer than original_max_position_embeddings / low_freq_factor are
  // divided by factor, shorter than .. / high_freq_factor kept, those between interpolated.
  double low_freq_factor = 1.0, high_freq_factor = 4.0;
  int original_max_position_embeddings = 0;
};

struct LlamaConfig {
  std::string model_type = "llama";  // config.json's model_type, recorded in folders quip writes
  int dim = 0;          // hidden_size
  int hidden_dim = 0;   // intermediate_size (SwiGLU)
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;   // grouped-query attention: n_heads % n_kv_heads == 0
  int head_dim = 0;     // usually dim / n_heads
  int vocab_size = 0;
  int max_seq_len = 0;  // max_position_embeddings
  float norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
  bool tied_embeddings = false;
  int bos_id = 1;
  int eos_id = 2;
  // Sliding-window attention (Mistral, Phi-3, Gemma): each position attends to itself and the
  // sliding_window - 1 positions before it. 0: full causal attention.
  int sliding_window = 0;
  // Per layer, whether it uses the window (Gemma alternates); empty: every layer does.
  std::vector<bool> sliding_layers;

  RopeScaling rope_scaling;
  float rope_local_theta = 0.0f;  // Gemma 3: RoPE base of the sliding layers (unscaled); 0: none
  bool qkv_bias = false;          // q/k/v projections have biases (Qwen 2, attention_bias)
  bool o_bias = false;            // o_proj has a bias (attention_bias)
  bool qk_norm = false;           // RMSNorm over each head of q and k before RoPE (Qwen 3, Gemma 3)
  bool fused_qkv = false;         // one qkv_proj [q_dim + 2 kv_dim, dim] (Phi-3)
  bool fused_gate_up = false;     // one gate_up_proj [2 hidden_dim, dim], gate rows first (Phi-3)
  Activation activation = Activation::kSilu;
  float norm_offset = 0.0f;       // RMSNorms scale by (norm_offset + w): 1 in Gemma
  bool sandwich_norms = false;    // Gemma 2/3: norms after attention and after the MLP as well
  float embed_scale = 1.0f;       // embeddings are multiplied by this (Gemma: sqrt(hidden_size))
  float query_pre_attn_scalar = 0.0f;  // attention scores scale 1/sqrt(this); 0: head_dim
  float attn_softcap = 0.0f;      // scores -> cap * tanh(scores / cap) (Gemma 2); 0: none
  float final_softcap = 0.0f;     // the same on the logits

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
  // The window of `layer` (0: full attention) and whether it uses the local RoPE base.
  int WindowOf(int layer) const;
  bool LocalRopeOf(int layer) const { return rope_local_theta > 0.0f && WindowOf(layer) > 0; }
  float AttentionScale() const;
  // RoPE's inverse frequencies [head_dim / 2] for global (or, with `local`, the sliding) layers.
  std::vector<double> RopeInverseFrequencies(bool local = false) const;
  // Checks internal consistency; throws quip::Error naming `where`.
  void Validate(const std::string& where) const;
  int64_t ParameterCount() const;
};

}  // namespace quip
