// Hugging Face LlamaForCausalLM folders: config.json + model.safetensors, or
// sharded model-0000x-of-0000y.safetensors with model.safetensors.index.json.
#pragma once

#include <string>

#include "model/model.h"

namespace quip {

// Parses and validates config.json of a Llama model.
LlamaConfig ParseHfConfig(const std::string& config_path);

// config.json text describing `config` (for folders quip writes).
std::string HfConfigJson(const LlamaConfig& config);

// Loads a whole folder; F32 weights stay memory-mapped.
Model LoadHfModel(const std::string& dir);

}  // namespace quip
