// Our fp32 logits against tools/llama_reference.py, an independent float64 NumPy
// forward pass that parses safetensors / llama2.c files itself. Each input format of
// the same tiny random GQA model, and both forward paths: all tokens in one Feed
// (matrix-matrix) and one token at a time through the KV cache (decode), plus a
// mixed path (chunks of several tokens after a prefix).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <span>

#include "model/forward.h"
#include "pipeline/load.h"
#include "reference_check.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using testing::RandomWeights;
using testing::TinyConfig;

using testing::CheckModel;
using testing::kRelTolerance;
using testing::kTokens;
using testing::TestTokens;

testing::TinyWeights Weights(bool tied) {
  LlamaConfig c = TinyConfig();
  c.tied_embeddings = tied;
  return RandomWeights(c, 1234);
}

TEST(Reference, HfF32) {
  const std::string dir = testing::MakeTempDir("ref-hf-f32");
  testing::WriteHfFolder(Weights(false), dir);
  CheckModel("hf f32", dir);
}

TEST(Reference, HfF32Sharded3) {
  const std::string dir = testing::MakeTempDir("ref-hf-sharded");
  testing::WriteHfFolder(Weights(false), dir, 3);
  ASSERT_TRUE(fs::exists(fs::path(dir) / "model-00003-of-00003.safetensors"));
  ASSERT_FALSE(fs::exists(fs::path(dir) / "model.safetensors"));
  CheckModel("hf f32 3 shards", dir);
}

TEST(Reference, HfF16) {
  const std::string dir = testing::MakeTempDir("ref-hf-f16");
  testing::WriteHfFolderAs(Weights(false), dir, DType::kF16);
  CheckModel("hf f16", dir);
}

TEST(Reference, HfBf16) {
  const std::string dir = testing::MakeTempDir("ref-hf-bf16");
  testing::WriteHfFolderAs(Weights(false), dir, DType::kBF16);
  CheckModel("hf bf16", dir);
}

TEST(Reference, HfBf16Sharded3) {
  const std::string dir = testing::MakeTempDir("ref-hf-bf16-sharded");
  testing::WriteHfFolderAs(Weights(false), dir, DType::kBF16, 3);
  CheckModel("hf bf16 3 shards", dir);
}

TEST(Reference, HfTiedEmbeddings) {
  const std::string dir = testing::MakeTempDir("ref-hf-tied");
  testing::WriteHfFolder(Weights(true), dir);
  CheckModel("hf tied", dir);
}

TEST(Reference, Llama2cUntied) {
  const std::string dir = testing::MakeTempDir("ref-llama2c");
  const std::string path = dir + "/model.bin";
  testing::WriteLlama2cFile(Weights(false), path);
  CheckModel("llama2c untied", path);
}

TEST(Reference, Llama2cTied) {
  const std::string dir = testing::MakeTempDir("ref-llama2c-tied");
  const std::string path = dir + "/model.bin";
  testing::WriteLlama2cFile(Weights(true), path);
  CheckModel("llama2c tied", path);
}

// Mistral's sliding-window attention (window 7 < the 40-token context; the reference masks
// i - j >= window as HF does) on all three feeding paths, including chunks that start past
// the window. The same weights with full attention give logits far outside the tolerance,
// so a forward pass that ignored the window could not pass.
TEST(Reference, MistralSlidingWindow) {
  LlamaConfig c = TinyConfig();
  c.sliding_window = 7;
  const std::string dir = testing::MakeTempDir("ref-mistral-window");
  testing::WriteHfFolder(RandomWeights(c, 1234), dir + "/window");
  CheckModel("mistral window 7", dir + "/window");
  c.sliding_window = 0;
  testing::WriteHfFolder(RandomWeights(c, 1234), dir + "/full");
  const Model windowed = LoadModel(dir + "/window"), full = LoadModel(dir + "/full");
  const std::vector<int> tokens = TestTokens(c.vocab_size);
  Session a(windowed, kTokens), b(full, kTokens);
  const auto la = a.Feed(tokens, true);
  const std::vector<float> copy(la.begin(), la.end());
  const auto lb = b.Feed(tokens, true);
  double max_diff = 0.0, max_ref = 0.0;
  for (size_t i = 0; i < copy.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(double(copy[i]) - lb[i]));
    max_ref = std::max(max_ref, std::fabs(double(lb[i])));
  }
  std::printf("[window 7 vs full attention] relative difference %.3e\n", max_diff / max_ref);
  EXPECT_GT(max_diff / max_ref, 100 * kRelTolerance) << "the window made no difference";
  // Positions inside the first window see the same keys either way: identical logits.
  for (size_t i = 0; i < size_t(c.vocab_size) * 7; ++i) ASSERT_EQ(copy[i], lb[i]) << "at " << i;
}

// The HF folder and the llama2.c file of the same weights give the same logits
// (the load-time q/k permutation is exact, not just within tolerance).
TEST(Reference, Llama2cMatchesHfExactly) {
  const std::string dir = testing::MakeTempDir("ref-same-weights");
  const auto w = Weights(false);
  testing::WriteHfFolder(w, dir + "/hf");
  testing::WriteLlama2cFile(w, dir + "/model.bin");
  const Model hf = LoadModel(dir + "/hf"), l2c = LoadModel(dir + "/model.bin");
  const std::vector<int> tokens = TestTokens(hf.config.vocab_size);
  Session a(hf, kTokens), b(l2c, kTokens);
  const auto la = a.Feed(tokens, true);
  const std::vector<float> copy(la.begin(), la.end());
  const auto lb = b.Feed(tokens, true);
  ASSERT_EQ(copy.size(), lb.size());
  for (size_t i = 0; i < copy.size(); ++i) ASSERT_EQ(copy[i], lb[i]) << "at " << i;
}

}  // namespace
}  // namespace quip
