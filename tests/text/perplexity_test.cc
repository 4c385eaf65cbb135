// The perplexity protocol (docs/perplexity.md) on a tiny random model, checked against
// NLLs computed from tools/llama_reference.py logits window by window (unit).
#include <gtest/gtest.h>

#include <algorithm>
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

// tools/llama_reference.py's logits (double, [n][vocab]) for `prefix` + `window`.
std::vector<double> ReferenceLogits(const std::string& model_dir, const std::vector<int>& input, int vocab) {
  std::string ids;
  for (int t : input) ids += (ids.empty() ? "" : ",") + std::to_string(t);
  const std::string out = model_dir + "/window.f64";
  const auto r = testing::RunCommand("/usr/bin/python3 " + ShellQuote(testing::SourceDir() + "/tools/llama_reference.py") +
                                     " --model " + ShellQuote(model_dir) + " --tokens " + ids + " --out " + ShellQuote(out));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::vector<double> logits(input.size() * vocab);
  std::ifstream(out, std::ios::binary).read(reinterpret_cast<char*>(logits.data()), std::streamsize(logits.size() * 8));
  return logits;
}

// log softmax of one row of double logits.
std::vector<double> LogSoftmax(const double* row, int vocab) {
  double max = row[0], sum = 0;
  for (int v = 1; v < vocab; ++v) max = std::max(max, row[v]);
  for (int v = 0; v < vocab; ++v) sum += std::exp(row[v] - max);
  std::vector<double> out(vocab);
  for (int v = 0; v < vocab; ++v) out[v] = row[v] - max - std::log(sum);
  return out;
}

std::vector<int> WithPrefix(const std::vector<int>& prefix, const std::vector<int>& window) {
  std::vector<int> input = prefix;
  input.insert(input.end(), window.begin(), window.end());
  return input;
}

// Sum over positions of -log softmax(reference logits)[next token] for `prefix` + `window`
// (every prediction of a window token).
double ReferenceWindowNll(const std::string& model_dir, const std::vector<int>& window, int vocab,
                          const std::vector<int>& prefix = {1}) {
  const std::vector<int> input = WithPrefix(prefix, window);
  const std::vector<double> logits = ReferenceLogits(model_dir, input, vocab);
  double nll = 0;
  for (size_t i = prefix.empty() ? 0 : prefix.size() - 1; i + 1 < input.size(); ++i)
    nll -= LogSoftmax(&logits[i * vocab], vocab)[input[i + 1]];
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

// --reference: the KL divergence from a second model, its NLL and the top-1 agreement, against
// the same quantities computed from both models' tools/llama_reference.py logits (NumPy).
TEST(Perplexity, KlDivergenceFromAReferenceMatchesNumPy) {
  const std::string student_dir = testing::MakeTempDir("ppl-kl-student"), teacher_dir = testing::MakeTempDir("ppl-kl-teacher");
  // The teacher is the student with every weight perturbed by ~10 %: mostly the same top token,
  // not everywhere.
  const testing::TinyWeights student_weights = testing::RandomWeights(testing::TinyConfig(), 99);
  testing::TinyWeights teacher_weights = student_weights;
  std::mt19937 noise_rng(11);
  std::normal_distribution<float> noise(0.0f, 0.1f);
  for (auto& [name, tensor] : teacher_weights.tensors)
    for (float& w : tensor.second) w *= 1.0f + noise(noise_rng);
  testing::WriteHfFolder(student_weights, student_dir);
  testing::WriteHfFolder(teacher_weights, teacher_dir);
  SetThreads(2);
  const Model student = LoadModel(student_dir), teacher = LoadModel(teacher_dir);
  const int vocab = student.config.vocab_size, ctx = 16, span = ctx - 1, windows = 2;
  std::mt19937 rng(5);
  std::vector<int> tokens(windows * span);
  for (int& t : tokens) t = 3 + int(rng() % (vocab - 3));

  const PerplexityResult r = EvaluatePerplexity(student, tokens, ctx, 0, "tokens", nullptr, std::nullopt, &teacher);
  double kl = 0, kl_max = 0, teacher_nll = 0;
  int64_t same_top1 = 0;
  for (int w = 0; w < windows; ++w) {
    const std::vector<int> input =
        WithPrefix({1}, std::vector<int>(tokens.begin() + w * span, tokens.begin() + (w + 1) * span));
    const std::vector<double> p_logits = ReferenceLogits(teacher_dir, input, vocab);
    const std::vector<double> q_logits = ReferenceLogits(student_dir, input, vocab);
    for (int i = 0; i + 1 < ctx; ++i) {
      const std::vector<double> log_p = LogSoftmax(&p_logits[size_t(i) * vocab], vocab);
      const std::vector<double> log_q = LogSoftmax(&q_logits[size_t(i) * vocab], vocab);
      double position_kl = 0;
      for (int v = 0; v < vocab; ++v) position_kl += std::exp(log_p[v]) * (log_p[v] - log_q[v]);
      kl += position_kl;
      kl_max = std::max(kl_max, position_kl);
      teacher_nll -= log_p[input[i + 1]];
      same_top1 += std::max_element(log_p.begin(), log_p.end()) - log_p.begin() ==
                   std::max_element(log_q.begin(), log_q.end()) - log_q.begin();
    }
  }
  std::printf("kl ours %.10f numpy %.10f (max %.6f / %.6f), top-1 %lld / %lld of %lld\n", r.kl, kl, r.kl_max, kl_max,
              (long long)r.same_top1, (long long)same_top1, (long long)r.tokens);
  ASSERT_GT(kl, 1e-3);  // the models differ: a KL well away from zero
  ASSERT_GT(same_top1, 0);
  ASSERT_LT(same_top1, r.tokens);
  // The forward passes are fp32 against NumPy's double; a KL is a difference of close
  // log-probabilities, so fp32's ~1e-7 on the logits shows up relative to small KLs. Measured
  // (OpenBLAS's Prescott and SkylakeX kernels): 1.5e-7 relative on the sum, 1.7e-6 on the
  // largest term (0.061).
  EXPECT_NEAR(r.kl, kl, 1e-6 * kl);
  EXPECT_NEAR(r.kl_max, kl_max, 1e-5 * kl_max);
  EXPECT_NEAR(r.reference_nll, teacher_nll, 1e-5 * teacher_nll);
  EXPECT_EQ(r.same_top1, same_top1);

  // A model against itself: KL exactly zero and the same top token everywhere.
  const PerplexityResult self = EvaluatePerplexity(student, tokens, ctx, 0, "tokens", nullptr, std::nullopt, &student);
  EXPECT_EQ(self.kl, 0.0);
  EXPECT_EQ(self.same_top1, self.tokens);
  EXPECT_EQ(self.reference_nll, self.nll);

  LlamaConfig other_vocab = testing::TinyConfig();
  other_vocab.vocab_size += 1;
  const std::string odd_dir = testing::MakeTempDir("ppl-kl-vocab");
  testing::WriteHfFolder(testing::RandomWeights(other_vocab, 7), odd_dir);
  const Model odd = LoadModel(odd_dir);
  try {
    EvaluatePerplexity(student, tokens, ctx, 0, "tokens", nullptr, std::nullopt, &odd);
    FAIL() << "a reference with another vocabulary was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocabulary"), std::string::npos) << e.what();
  }
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
