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
  TensorView ffn_norm;   // [dim]
  // HF RoPE convention (rotate_half) for q and k rows; llama2.c weights are permuted at load.
  std::unique_ptr<Linear> q, k, v, o;
  std::unique_ptr<Linear> gate, up, down;
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
