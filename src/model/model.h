// The in-memory model: one representation whatever the source format
// (Hugging Face folder, llama2.c checkpoint, quantized quip folder).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"
#include "model/linear.h"

namespace quip {

struct LayerWeights {
  TensorView attn_norm;  // [dim]
  TensorView ffn_norm;   // [dim], before the MLP
  // HF RoPE convention (rotate_half) for q and k rows; llama2.c weights are permuted at load.
  std::unique_ptr<Linear> q, k, v, o;
  std::unique_ptr<Linear> gate, up, down;
  // Set only where the config says so (model/config.h); empty views and null linears otherwise.
  std::unique_ptr<Linear> qkv;      // fused q/k/v rows (Phi-3), instead of q, k, v
  std::unique_ptr<Linear> gate_up;  // fused gate/up rows (Phi-3), instead of gate, up
  TensorView q_bias, k_bias, v_bias, o_bias;  // fp32, never quantized
  TensorView q_norm, k_norm;                  // [head_dim], per-head RMSNorm (Qwen 3, Gemma 3)
  TensorView post_attn_norm, post_ffn_norm;   // [dim], sandwich norms (Gemma 2/3)
  // Which attention this layer runs (calibration runs every block in KV slot 0, so the block
  // carries it rather than its index): LlamaConfig::WindowOf / LocalRopeOf of its layer.
  int sliding_window = 0;
  bool local_rope = false;

  // The layer whose format reports show (q_proj, or the fused qkv_proj).
  const Linear& query_linear() const { return q ? *q : *qkv; }
  // The linears this block has (fused ones instead of their parts).
  std::vector<const Linear*> linears() const {
    std::vector<const Linear*> all;
    for (const Linear* l : {q.get(), k.get(), v.get(), qkv.get(), o.get(), gate.get(), up.get(), gate_up.get(), down.get()})
      if (l) all.push_back(l);
    return all;
  }
};

// One row of `quip info`'s tensor table, as stored in the source file.
struct TensorRecord {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  int64_t bytes = 0;
};

struct Model {
  LlamaConfig config;
  std::string source;       // path it was loaded from
  std::string format;       // "hf-safetensors", "llama2c", ...
  TensorView token_embedding;  // [vocab, dim]
  std::vector<LayerWeights> layers;
  TensorView final_norm;       // [dim]
  std::unique_ptr<Linear> lm_head;
  std::vector<TensorRecord> tensors;
  std::vector<StorageOwner> owners;  // keeps maps and buffers alive
};

}  // namespace quip
