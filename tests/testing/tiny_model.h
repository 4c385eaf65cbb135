// Builds small random Llama models in code and writes them in the formats quip
// reads, so tests need no downloaded model. Weights are seeded and reproducible.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "io/safetensors.h"
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

// Real texts used by several model tests.
inline std::string BooksValid() { return SharedDir() + "/data/books/valid.txt"; }
inline std::string TinyStoriesText() { return SharedDir() + "/data/tinystories/tinystories-train-head.txt"; }

// Like WriteHfFolder, but every tensor stored as `dtype` (F32, F16 or BF16; round to nearest even).
void WriteHfFolderAs(const TinyWeights& weights, const std::string& dir, DType dtype, int shards = 1);
// IEEE half / bfloat16 bits of `x`, rounded to nearest even (NaN stays NaN).
uint16_t FloatToF16Bits(float x);
uint16_t FloatToBf16Bits(float x);

// Runs a command with stdout and stderr captured separately.
struct SplitCommandResult {
  int exit_code;  // 128 + signal when killed by a signal
  std::string out, err;
};
SplitCommandResult RunCommandSplit(const std::string& command);

// The error contract of every quip command: non-zero exit without a crash, nothing on
// stdout, exactly one stderr line starting "quip: error: " that contains every needle.
void ExpectCleanError(const SplitCommandResult& result, const std::vector<std::string>& needles);
// Shell-quotes `s` with single quotes.
std::string ShellQuote(const std::string& s);

}  // namespace quip::testing

// Skips the current test when a real model or text is not beside the checkout.
#define REQUIRE_FILE(path) \
  if (!std::filesystem::exists(path)) GTEST_SKIP() << (path) << " is not present"

