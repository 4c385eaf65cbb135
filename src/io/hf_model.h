// Hugging Face folders of the Llama-like families (LlamaForCausalLM, Mistral, Qwen 2/3,
// Phi-3, Gemma 2/3: model/config.h): config.json + model.safetensors, or sharded
// model-0000x-of-0000y.safetensors with model.safetensors.index.json.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "model/model.h"

namespace quip {

// Parses and validates config.json of a Llama model.
LlamaConfig ParseHfConfig(const std::string& config_path);

// config.json text describing `config` (for folders quip writes).
std::string HfConfigJson(const LlamaConfig& config);

// The per-layer tensors of an architecture under their Hugging Face names within
// "model.layers.<l>.": vectors (norms, biases; [size], fp32) and linears ([rows, cols]).
// The loader reads and the quip writer stores exactly these.
struct LayerTensorSlot {
  std::string name;  // e.g. "input_layernorm.weight"
  TensorView LayerWeights::*slot;
  int64_t size;
};
struct LayerLinearSlot {
  std::string name;  // e.g. "self_attn.q_proj" (+ ".weight" or the quip tensors)
  std::unique_ptr<Linear> LayerWeights::*slot;
  int rows, cols;
};
std::vector<LayerTensorSlot> LayerTensorSlots(const LlamaConfig& config);
std::vector<LayerLinearSlot> LayerLinearSlots(const LlamaConfig& config);

// Loads a whole folder; F32 weights stay memory-mapped. half_linears_on_use: BF16/F16 linear
// weights too, converted when used (model/half_linear.h; pipeline/load.h LoadOptions).
Model LoadHfModel(const std::string& dir, bool half_linears_on_use = false);

}  // namespace quip
