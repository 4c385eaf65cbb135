// Builds small random Llama models in code and writes them in the formats quip
// reads, so tests need no downloaded model. Weights are seeded and reproducible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/config.h"

namespace quip::testing {

// A tiny GQA model with an untied head by default.
LlamaConfig TinyConfig();

// name -> (shape, values), in Hugging Face naming, q/k rows in rotate_half order.
struct TinyWeights {
  LlamaConfig config;
  std::map<std::string, std::pair<std::vector<int64_t>, std::vector<float>>> tensors;
};
TinyWeights RandomWeights(const LlamaConfig& config, uint64_t seed);

// config.json + model.safetensors (or `shards` > 1 files + model.safetensors.index.json).
void WriteHfFolder(const TinyWeights& weights, const std::string& dir, int shards = 1);
// llama2.c .bin (q/k rows converted to the interleaved RoPE order that format expects).
void WriteLlama2cFile(const TinyWeights& weights, const std::string& path);
// config.json text for `config` (tests edit it to make bad variants).
std::string HfConfigJson(const LlamaConfig& config);

// A fresh empty directory under the test temp dir, removed by nobody (ctest's build tree).
std::string MakeTempDir(const std::string& name);

// Runs a shell command, returns its exit status and combined stdout+stderr.
struct CommandResult {
  int exit_code;
  std::string output;
};
CommandResult RunCommand(const std::string& command);

// Path of the `quip` binary, the source tree and ../shared (set by CMake).
std::string QuipBinary();
std::string SourceDir();
std::string SharedDir();

}  // namespace quip::testing
