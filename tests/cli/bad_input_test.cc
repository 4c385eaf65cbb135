// Bad input (issue 3, section 7): the real `quip` binary on a generated bad input must
// exit non-zero without crashing, print nothing on stdout, and print exactly one line
// on stderr, "quip: error: ...", naming the file and the problem. One test per case.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/hf_model.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using testing::ShellQuote;

// Runs `quip <args>`; the one error line must name `file` and say `problem`.
void ExpectCleanError(const std::string& args, const std::string& file, const std::string& problem) {
  const std::string command = ShellQuote(testing::QuipBinary()) + " " + args;
  SCOPED_TRACE(command);
  testing::ExpectCleanError(testing::RunCommandSplit(command), {file, problem});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

// Raw safetensors bytes: the 8-byte little-endian `header_len`, the header text, the data.
std::string SafetensorsBytes(uint64_t header_len, const std::string& header, const std::string& data) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = char((header_len >> (8 * i)) & 0xff);
  return bytes + header + data;
}
// Same with the correct header length.
std::string SafetensorsBytes(const std::string& header, size_t data_bytes) {
  return SafetensorsBytes(header.size(), header, std::string(data_bytes, '\0'));
}

// A tiny valid HF folder; tests then break one thing in it.
std::string TinyHfFolder(const std::string& name, int shards = 1) {
  const std::string dir = testing::MakeTempDir(name);
  testing::WriteHfFolder(testing::RandomWeights(testing::TinyConfig(), 5), dir, shards);
  return dir;
}

// A folder with a valid config.json and `safetensors` as model.safetensors.
std::string FolderWithSafetensors(const std::string& name, const std::string& safetensors) {
  const std::string dir = testing::MakeTempDir(name);
  WriteFile(dir + "/config.json", HfConfigJson(testing::TinyConfig()));
  WriteFile(dir + "/model.safetensors", safetensors);
  return dir;
}

std::string Info(const std::string& model) { return "info --model " + ShellQuote(model); }
std::string Stories() { return testing::SourceDir() + "/models/stories260K"; }
std::string Ppl(const std::string& text, const std::string& extra = "") {
  return "ppl --threads 1 --model " + ShellQuote(Stories()) + " --text " + ShellQuote(text) + " " + extra;
}

// ---- model folders and config.json

TEST(BadInput, MissingModelFolder) {
  const std::string dir = testing::MakeTempDir("missing-folder") + "/no-such-model";
  ExpectCleanError(Info(dir), dir, "no such file or directory");
}

TEST(BadInput, MissingConfigJson) {
  const std::string dir = TinyHfFolder("missing-config");
  fs::remove(dir + "/config.json");
  ExpectCleanError(Info(dir), dir, "no config.json");
}

TEST(BadInput, MissingModelSafetensors) {
  const std::string dir = TinyHfFolder("missing-safetensors");
  fs::remove(dir + "/model.safetensors");
  ExpectCleanError(Info(dir), dir, "no model.safetensors");
}

TEST(BadInput, ConfigJsonIsNotJson) {
  const std::string dir = TinyHfFolder("config-not-json");
  WriteFile(dir + "/config.json", "{\n  \"hidden_size\": 48,\n  oops\n}\n");
  ExpectCleanError(Info(dir), dir + "/config.json", "not valid JSON");
}

TEST(BadInput, ConfigJsonDisagreesWithTensorShapes) {
  const std::string dir = TinyHfFolder("config-disagrees");
  LlamaConfig c = testing::TinyConfig();
  c.hidden_dim = 100;  // tensors say 136
  WriteFile(dir + "/config.json", HfConfigJson(c));
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "config.json implies");
}

TEST(BadInput, ConfigJsonMissingField) {
  const std::string dir = TinyHfFolder("config-missing-field");
  WriteFile(dir + "/config.json", R"({"model_type": "llama", "hidden_size": 48})");
  ExpectCleanError(Info(dir), dir + "/config.json", "missing required field 'intermediate_size'");
}

TEST(BadInput, MissingTensor) {
  const std::string dir = testing::MakeTempDir("missing-tensor");
  auto w = testing::RandomWeights(testing::TinyConfig(), 5);
  w.tensors.erase("model.layers.1.mlp.up_proj.weight");
  testing::WriteHfFolder(w, dir);
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "missing tensor 'model.layers.1.mlp.up_proj.weight'");
}

// ---- safetensors bytes

TEST(BadInput, SafetensorsUnknownDtype) {
  const std::string dir = FolderWithSafetensors(
      "unknown-dtype", SafetensorsBytes(R"({"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})", 4));
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "unsupported dtype 'F8_E4M3'");
}

TEST(BadInput, SafetensorsTruncated) {
  const std::string dir = TinyHfFolder("truncated");
  const std::string path = dir + "/model.safetensors";
  fs::resize_file(path, fs::file_size(path) - 100);
  ExpectCleanError(Info(dir), path, "out of range");
}

TEST(BadInput, SafetensorsShorterThanHeaderLength) {
  const std::string dir = FolderWithSafetensors("short-file", "\x10\x00\x00");
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "too short");
}

TEST(BadInput, SafetensorsHeaderLengthZero) {
  const std::string dir = FolderWithSafetensors("header-zero", SafetensorsBytes(0, "", std::string(16, '\0')));
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "header length is 0");
}

TEST(BadInput, SafetensorsHeaderLengthHuge) {
  const std::string dir = FolderWithSafetensors("header-huge", SafetensorsBytes(~uint64_t{0} - 3, "{}", ""));
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "exceeds");
}

TEST(BadInput, SafetensorsHeaderLengthBeyondFile) {
  const std::string dir = FolderWithSafetensors("header-beyond", SafetensorsBytes(1000, "{}", std::string(16, '\0')));
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "runs past the end of the file");
}

TEST(BadInput, SafetensorsHeaderIsNotJson) {
  const std::string dir = FolderWithSafetensors("header-not-json", SafetensorsBytes("{\"a\": [1, 2", 0));
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "not valid JSON");
}

TEST(BadInput, SafetensorsDataOffsetsOutOfRange) {
  const std::string dir = FolderWithSafetensors(
      "offsets-out-of-range", SafetensorsBytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 16));
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "out of range");
}

TEST(BadInput, SafetensorsDataOffsetsReversed) {
  const std::string dir = FolderWithSafetensors(
      "offsets-reversed", SafetensorsBytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})", 16));
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "out of range");
}

TEST(BadInput, SafetensorsDataOffsetsDisagreeWithShape) {
  const std::string dir = FolderWithSafetensors(
      "offsets-vs-shape", SafetensorsBytes(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", 16));
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "needs 12");
}

TEST(BadInput, SafetensorsOverlappingTensors) {
  const std::string dir = FolderWithSafetensors(
      "overlap", SafetensorsBytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                  R"("b":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})",
                                  24));
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "overlap");
}

TEST(BadInput, SafetensorsShapeProductOverflow) {
  // 2^32 * 2^32 * 4 wraps to 0 in 64 bits; the reader must not be fooled into 16 bytes.
  const std::string dir = FolderWithSafetensors(
      "shape-overflow",
      SafetensorsBytes(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,16]}})", 16));
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "more elements than the data section holds");
}

TEST(BadInput, SafetensorsNegativeDimension) {
  const std::string dir = FolderWithSafetensors(
      "negative-dim", SafetensorsBytes(R"({"a":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", 16));
  ExpectCleanError(Info(dir), dir + "/model.safetensors", "negative");
}

TEST(BadInput, ShardedIndexNamesMissingShard) {
  const std::string dir = TinyHfFolder("missing-shard", 2);
  const std::string shard = dir + "/model-00002-of-00002.safetensors";
  fs::remove(shard);
  ExpectCleanError(Info(dir), shard, "cannot open");
}

TEST(BadInput, ShardedIndexIsNotJson) {
  const std::string dir = TinyHfFolder("index-not-json", 2);
  WriteFile(dir + "/model.safetensors.index.json", "weight_map: nothing");
  ExpectCleanError(Info(dir), dir + "/model.safetensors.index.json", "not valid JSON");
}

// ---- llama2.c checkpoints

TEST(BadInput, Llama2cTruncated) {
  const std::string path = testing::MakeTempDir("llama2c-truncated") + "/model.bin";
  testing::WriteLlama2cFile(testing::RandomWeights(testing::TinyConfig(), 5), path);
  fs::resize_file(path, fs::file_size(path) - 4);
  ExpectCleanError(Info(path), path, "implies");
}

TEST(BadInput, Llama2cShorterThanHeader) {
  const std::string path = testing::MakeTempDir("llama2c-short") + "/model.bin";
  WriteFile(path, std::string(12, '\x01'));
  ExpectCleanError(Info(path), path, "too short");
}

TEST(BadInput, Llama2cNegativeDim) {
  const std::string path = testing::MakeTempDir("llama2c-negative-dim") + "/model.bin";
  testing::WriteLlama2cFile(testing::RandomWeights(testing::TinyConfig(), 5), path);
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  const int32_t dim = -48;
  f.write(reinterpret_cast<const char*>(&dim), 4);
  f.close();
  ExpectCleanError(Info(path), path, "dim -48");
}

// A truncated checkpoint inside a folder is reported as truncated, not as "no checkpoint".
TEST(BadInput, Llama2cTruncatedInsideFolder) {
  const std::string dir = testing::MakeTempDir("llama2c-truncated-folder");
  const std::string path = dir + "/model.bin";
  testing::WriteLlama2cFile(testing::RandomWeights(testing::TinyConfig(), 5), path);
  const uintmax_t size = fs::file_size(path);
  fs::resize_file(path, size - 1000);
  ExpectCleanError(Info(dir), path,
                   fmt::format("truncated llama2.c checkpoint: {} bytes but its header", size - 1000));
  ExpectCleanError(Info(dir), path, fmt::format("implies {} bytes (1000 bytes missing)", size));
}

// ---- a file where a model folder is expected: named for what it is

TEST(BadInput, SafetensorsFileGivenAsModel) {
  const std::string dir = TinyHfFolder("file-safetensors");
  ExpectCleanError(Info(dir + "/model.safetensors"), dir + "/model.safetensors",
                   "is a safetensors file, not a model folder; pass the folder that holds it and its config.json (" +
                       dir + ")");
}

TEST(BadInput, ConfigJsonGivenAsModel) {
  const std::string dir = TinyHfFolder("file-config");
  ExpectCleanError(Info(dir + "/config.json"), dir + "/config.json", "is a JSON file, not a model folder");
}

TEST(BadInput, TextGivenAsModel) {
  const std::string text = testing::SourceDir() + "/data/books/valid.txt";
  ExpectCleanError(Info(text), text, "is a text file, not a model");
}

// ---- text files and the perplexity protocol (embedded stories260K, max_position_embeddings 512)

TEST(BadInput, TextFileMissing) {
  const std::string text = testing::MakeTempDir("text-missing") + "/none.txt";
  ExpectCleanError(Ppl(text), text, "cannot open");
}

TEST(BadInput, TextFileEmpty) {
  const std::string text = testing::MakeTempDir("text-empty") + "/empty.txt";
  WriteFile(text, "");
  ExpectCleanError(Ppl(text), text, "empty");
}

TEST(BadInput, TextFileNotUtf8) {
  const std::string text = testing::MakeTempDir("text-latin1") + "/latin1.txt";
  WriteFile(text, "Once upon a time there was a caf\xe9 by the sea.\n");  // Latin-1 e-acute
  ExpectCleanError(Ppl(text), text, "not valid UTF-8");
}

TEST(BadInput, ContextLongerThanMaxPositionEmbeddings) {
  const std::string text = testing::MakeTempDir("ctx-too-long") + "/story.txt";
  WriteFile(text, "Once upon a time, there was a little girl named Lily. She loved to play outside.\n");
  ExpectCleanError(Ppl(text, "--ctx 1024"), Stories(), "max_position_embeddings 512");
}

TEST(BadInput, TextShorterThanOneWindow) {
  const std::string text = testing::MakeTempDir("text-short") + "/short.txt";
  WriteFile(text, "Once upon a time.\n");
  ExpectCleanError(Ppl(text, "--ctx 256"), text, "fewer than one window");
}

TEST(BadInput, HfModelWithoutTokenizer) {
  const std::string dir = TinyHfFolder("no-tokenizer");
  const std::string text = dir + "/story.txt";
  WriteFile(text, "Once upon a time.\n");
  ExpectCleanError("ppl --model " + ShellQuote(dir) + " --text " + ShellQuote(text), dir, "no tokenizer");
}

}  // namespace
}  // namespace quip
