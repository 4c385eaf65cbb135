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
#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using testing::RandomWeights;
using testing::TinyConfig;

constexpr double kRelTolerance = 1e-4;
constexpr int kTokens = 40;  // < TinyConfig().max_seq_len

std::vector<int> TestTokens(int vocab) {
  std::mt19937 rng(7);
  std::vector<int> ids{1};  // BOS
  while (int(ids.size()) < kTokens) ids.push_back(int(rng() % vocab));
  return ids;
}

// Runs the NumPy reference on `model_path`; logits [tokens, vocab] in float64.
std::vector<double> ReferenceLogits(const std::string& model_path, const std::vector<int>& tokens, int vocab) {
  std::string ids;
  for (int t : tokens) {
    if (!ids.empty()) ids += ',';
    ids += std::to_string(t);
  }
  const std::string out = model_path + ".reference-logits.f64";
  const std::string command = "/usr/bin/python3 " + testing::ShellQuote(testing::SourceDir() + "/tools/llama_reference.py") +
                              " --model " + testing::ShellQuote(model_path) + " --tokens " + ids + " --out " +
                              testing::ShellQuote(out);
  const auto r = testing::RunCommand(command);
  EXPECT_EQ(r.exit_code, 0) << command << "\n" << r.output;
  std::vector<double> logits(tokens.size() * size_t(vocab));
  std::ifstream in(out, std::ios::binary);
  in.read(reinterpret_cast<char*>(logits.data()), std::streamsize(logits.size() * sizeof(double)));
  EXPECT_TRUE(bool(in)) << "reference logits file " << out << " is shorter than " << logits.size() << " doubles";
  return logits;
}

// max |ours - ref| / max |ref|, with an llm.c-style report on failure.
double CompareLogits(const std::string& what, std::span<const float> ours, const std::vector<double>& ref, int vocab) {
  EXPECT_EQ(ours.size(), ref.size()) << what;
  double max_diff = 0.0, max_ref = 0.0;
  size_t worst = 0;
  for (size_t i = 0; i < std::min(ours.size(), ref.size()); ++i) {
    const double diff = std::fabs(double(ours[i]) - ref[i]);
    if (!(diff <= max_diff)) {  // also catches NaN
      max_diff = diff;
      worst = i;
    }
    max_ref = std::max(max_ref, std::fabs(ref[i]));
  }
  const double rel = max_diff / std::max(max_ref, 1e-30);
  std::printf("[%s] max |diff| %.3e, max |ref| %.3f, relative %.3e\n", what.c_str(), max_diff, max_ref, rel);
  if (!(rel <= kRelTolerance)) {
    std::printf("  first logits of position 0 (ours vs reference):\n");
    for (int i = 0; i < std::min(vocab, 5); ++i) std::printf("    %12.6f %12.6f\n", ours[i], ref[i]);
    std::printf("  worst: position %zu, token %zu: ours %.6f, reference %.6f\n", worst / vocab, worst % vocab,
                ours[worst], ref[worst]);
    std::printf(
        "  hint: if position 0 matches and later positions do not, suspect RoPE or the KV cache; if everything is\n"
        "  off, suspect weight layout (q/k permutation for llama2.c, tied head, shapes) or the dtype conversion.\n");
  }
  EXPECT_LE(rel, kRelTolerance) << what << ": logits differ from tools/llama_reference.py";
  return rel;
}

// All three feeding patterns of one model against the reference.
void CheckModel(const std::string& name, const std::string& path) {
  SetThreads(2);
  const Model model = LoadModel(path);
  const int vocab = model.config.vocab_size;
  const std::vector<int> tokens = TestTokens(vocab);
  const std::vector<double> ref = ReferenceLogits(path, tokens, vocab);
  if (::testing::Test::HasFailure()) return;

  {  // prompt path: every token in one Feed
    Session session(model, kTokens);
    const auto logits = session.Feed(tokens, /*all_logits=*/true);
    CompareLogits(name + " batch", logits, ref, vocab);
  }
  {  // decode path: one token at a time through the KV cache
    Session session(model, kTokens);
    std::vector<float> all;
    for (int t : tokens) {
      const int one[] = {t};
      const auto logits = session.Feed(one, /*all_logits=*/false);
      all.insert(all.end(), logits.begin(), logits.end());
    }
    CompareLogits(name + " decode", all, ref, vocab);
  }
  {  // mixed: a 7-token prefix, then chunks of 1, 5, 2, ... tokens on top of the cache
    Session session(model, kTokens);
    std::vector<float> all;
    const int chunks[] = {7, 1, 5, 2, 11, 1, 13};
    size_t at = 0;
    for (int n : chunks) {
      const auto logits = session.Feed(std::span<const int>(tokens).subspan(at, n), /*all_logits=*/true);
      all.insert(all.end(), logits.begin(), logits.end());
      at += n;
    }
    ASSERT_EQ(at, tokens.size());
    CompareLogits(name + " chunked", all, ref, vocab);
  }
}

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
