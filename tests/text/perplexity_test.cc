// The perplexity protocol (docs/perplexity.md) on a tiny random model, checked against
// NLLs computed from tools/llama_reference.py logits window by window (unit).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>

#include "core/error.h"
#include "model/forward.h"
#include "pipeline/load.h"
#include "testing/tiny_model.h"
#include "text/perplexity.h"

namespace quip {
namespace {
using testing::ShellQuote;

// Sum over positions of -log softmax(reference logits)[next token] for `prefix` + `window`
// (every prediction of a window token).
double ReferenceWindowNll(const std::string& model_dir, const std::vector<int>& window, int vocab,
                          const std::vector<int>& prefix = {1}) {
  std::vector<int> input = prefix;
  input.insert(input.end(), window.begin(), window.end());
  std::string ids;
  for (int t : input) ids += (ids.empty() ? "" : ",") + std::to_string(t);
  const std::string out = model_dir + "/window.f64";
  const auto r = testing::RunCommand("/usr/bin/python3 " + ShellQuote(testing::SourceDir() + "/tools/llama_reference.py") +
                                     " --model " + ShellQuote(model_dir) + " --tokens " + ids + " --out " + ShellQuote(out));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const size_t n = input.size();
  std::vector<double> logits(n * vocab);
  std::ifstream(out, std::ios::binary).read(reinterpret_cast<char*>(logits.data()), std::streamsize(logits.size() * 8));
  double nll = 0;
  for (size_t i = prefix.empty() ? 0 : prefix.size() - 1; i + 1 < n; ++i) {
    const double* row = &logits[i * vocab];
    double max = row[0], sum = 0;
    for (int v = 1; v < vocab; ++v) max = std::max(max, row[v]);
    for (int v = 0; v < vocab; ++v) sum += std::exp(row[v] - max);
    nll -= row[input[i + 1]] - max - std::log(sum);
  }
  return nll;
}

TEST(Perplexity, ProtocolMatchesReference) {
  const std::string dir = testing::MakeTempDir("ppl-protocol");
  testing::WriteHfFolder(testing::RandomWeights(testing::TinyConfig(), 99), dir);
  SetThreads(2);
  const Model model = LoadModel(dir);
  const int vocab = model.config.vocab_size, ctx = 16, span = ctx - 1;
  std::mt19937 rng(3);
  std::vector<int> tokens(3 * span + 5);  // 3 windows and an incomplete tail of 5
  for (int& t : tokens) t = 3 + int(rng() % (vocab - 3));

  const PerplexityResult r = EvaluatePerplexity(model, tokens, ctx, 0, "tokens");
  EXPECT_EQ(r.windows, 3);
  EXPECT_EQ(r.tokens, 3 * span);
  double ref_nll = 0;
  for (int w = 0; w < 3; ++w)
    ref_nll += ReferenceWindowNll(dir, std::vector<int>(tokens.begin() + w * span, tokens.begin() + (w + 1) * span), vocab);
  std::printf("nll ours %.8f reference %.8f\n", r.nll, ref_nll);
  EXPECT_NEAR(r.nll, ref_nll, 1e-5 * ref_nll);
  EXPECT_NEAR(r.ppl, std::exp(ref_nll / (3 * span)), 1e-5 * r.ppl);

  const PerplexityResult two = EvaluatePerplexity(model, tokens, ctx, 2, "tokens");
  EXPECT_EQ(two.windows, 2);
  EXPECT_EQ(two.tokens, 2 * span);
}

// A tokenizer without a prefix (Qwen's adds no BOS): windows of ctx text tokens, ctx-1 scored.
TEST(Perplexity, WithoutPrefixWindowsAreWholeText) {
  const std::string dir = testing::MakeTempDir("ppl-no-prefix");
  testing::WriteHfFolder(testing::RandomWeights(testing::TinyConfig(), 99), dir);
  SetThreads(2);
  const Model model = LoadModel(dir);
  const int vocab = model.config.vocab_size, ctx = 16;
  std::mt19937 rng(4);
  std::vector<int> tokens(2 * ctx + 3);
  for (int& t : tokens) t = 3 + int(rng() % (vocab - 3));
  const PerplexityResult r = EvaluatePerplexity(model, tokens, ctx, 0, "tokens", nullptr, std::vector<int>{});
  EXPECT_EQ(r.windows, 2);
  EXPECT_EQ(r.tokens, 2 * (ctx - 1));
  double ref_nll = 0;
  for (int w = 0; w < 2; ++w)
    ref_nll += ReferenceWindowNll(dir, std::vector<int>(tokens.begin() + w * ctx, tokens.begin() + (w + 1) * ctx), vocab, {});
  EXPECT_NEAR(r.nll, ref_nll, 1e-5 * ref_nll);
}

TEST(Perplexity, RejectsShortTextAndLongContext) {
  const std::string dir = testing::MakeTempDir("ppl-reject");
  testing::WriteHfFolder(testing::RandomWeights(testing::TinyConfig(), 99), dir);
  const Model model = LoadModel(dir);
  const std::vector<int> tokens(20, 5);
  EXPECT_THROW(EvaluatePerplexity(model, tokens, 32, 0, "t"), Error);  // 20 < 31
  EXPECT_THROW(EvaluatePerplexity(model, tokens, model.config.max_seq_len + 1, 0, "t"), Error);
  EXPECT_THROW(EvaluatePerplexity(model, tokens, 1, 0, "t"), Error);
  EXPECT_NO_THROW(EvaluatePerplexity(model, tokens, 21, 0, "t"));  // exactly one window of 20
}

TEST(Perplexity, LogProbabilityIsStable) {
  const float logits[] = {1000.0f, 0.0f, -1000.0f};
  EXPECT_NEAR(LogProbability(logits, 3, 0), 0.0, 1e-12);
  EXPECT_NEAR(LogProbability(logits, 3, 1), -1000.0, 1e-9);
  const float uniform[] = {2.5f, 2.5f, 2.5f, 2.5f};
  EXPECT_NEAR(LogProbability(uniform, 4, 3), -std::log(4.0), 1e-12);
}

}  // namespace
}  // namespace quip
