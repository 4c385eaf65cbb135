// Architecture of a Llama-family decoder, independent of the file it came from.
#pragma once

#include <cstdint>
#include <string>

namespace quip {

struct LlamaConfig {
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
  // Mistral's sliding-window attention: each position attends to itself and the
  // sliding_window - 1 positions before it. 0: full causal attention.
  int sliding_window = 0;

  int q_dim() const { return n_heads * head_dim; }
  int kv_dim() const { return n_kv_heads * head_dim; }
  // Checks internal consistency; throws quip::Error naming `where`.
  void Validate(const std::string& where) const;
  int64_t ParameterCount() const;
};

}  // namespace quip
