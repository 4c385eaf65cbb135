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

// Real models and texts the repository ships (tests/testing/shipped_files.h checks their
// sizes before any test of a binary runs).
inline std::string BooksModel() { return SourceDir() + "/models/books-llama-5m"; }
inline std::string StoriesModel() { return SourceDir() + "/models/stories260K"; }
inline std::string BooksValid() { return SourceDir() + "/data/books/valid.txt"; }
inline std::string TinyStoriesText() { return SourceDir() + "/data/tinystories/tinystories-train-head.txt"; }

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
// stdout, one stderr line starting "quip: error: " that contains every needle. Before it
// stderr may hold only the plain progress lines of steps that were slow enough to report
// (core/progress.h: a piped run prints a step that took >= 2 s), which a loaded machine
// produces and a quiet one does not.
void ExpectCleanError(const SplitCommandResult& result, const std::vector<std::string>& needles);
// Shell-quotes `s` with single quotes.
std::string ShellQuote(const std::string& s);

// QUIP_REQUIRE_FILES=1 in the environment (REQUIRE_FILE below).
bool RequireFilesFromEnvironment();

}  // namespace quip::testing

// For files that are not in the repository (../shared): skips the current test when `path`
// is missing, or fails it, naming the file, when QUIP_REQUIRE_FILES=1 (scripts/test.sh sets
// it, so the README's test command never passes with a required file missing). Files the
// repository ships need no guard: they are always required (shipped_files.h).
#define REQUIRE_FILE(path)                                                                          \
  if (!std::filesystem::exists(path)) {                                                             \
    if (::quip::testing::RequireFilesFromEnvironment())                                             \
      FAIL() << "required file " << (path) << " is not present (QUIP_REQUIRE_FILES=1)";             \
    else                                                                                            \
      GTEST_SKIP() << (path) << " is not present (set QUIP_REQUIRE_FILES=1 to make this a failure)"; \
  }

