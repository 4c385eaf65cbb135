// Our fp32 logits against a NumPy reference in tools/ (llama_reference.py,
// hf_families_reference.py): shared by the reference tests of tests/model.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "model/forward.h"
#include "pipeline/load.h"
#include "testing/tiny_model.h"

namespace quip::testing {

inline constexpr double kRelTolerance = 1e-4;
inline constexpr int kTokens = 40;  // < TinyConfig().max_seq_len

inline std::vector<int> TestTokens(int vocab) {
  std::mt19937 rng(7);
  std::vector<int> ids{1};  // BOS
  while (int(ids.size()) < kTokens) ids.push_back(int(rng() % vocab));
  return ids;
}

// The NumPy references in tools/ (same command line and output).
inline const char* kLlamaReference = "tools/llama_reference.py";
inline const char* kFamiliesReference = "tools/hf_families_reference.py";

inline std::string TokenList(const std::vector<int>& tokens) {
  std::string ids;
  for (int t : tokens) {
    if (!ids.empty()) ids += ',';
    ids += std::to_string(t);
  }
  return ids;
}

// Runs the NumPy reference `script` on `model_path`; logits [tokens, vocab] in float64.
inline std::vector<double> ReferenceLogits(const std::string& model_path, const std::vector<int>& tokens, int vocab,
                                           const std::string& script = kLlamaReference) {
  const std::string ids = TokenList(tokens);
  const std::string out = model_path + ".reference-logits.f64";
  const std::string command = "/usr/bin/python3 " + ShellQuote(SourceDir() + "/" + script) +
                              " --model " + ShellQuote(model_path) + " --tokens " + ids + " --out " +
                              ShellQuote(out);
  const auto r = RunCommand(command);
  EXPECT_EQ(r.exit_code, 0) << command << "\n" << r.output;
  std::vector<double> logits(tokens.size() * size_t(vocab));
  std::ifstream in(out, std::ios::binary);
  in.read(reinterpret_cast<char*>(logits.data()), std::streamsize(logits.size() * sizeof(double)));
  EXPECT_TRUE(bool(in)) << "reference logits file " << out << " is shorter than " << logits.size() << " doubles";
  return logits;
}

// max |ours - ref| / max |ref|, with an llm.c-style report on failure.
inline double CompareLogits(const std::string& what, std::span<const float> ours, const std::vector<double>& ref, int vocab) {
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
  EXPECT_LE(rel, kRelTolerance) << what << ": logits differ from the NumPy reference";
  return rel;
}

// Logits of every token, fed to one session in chunks of the given sizes (which must add
// up to the token count): each chunk attends to the cache the earlier ones left.
inline std::vector<float> FeedInChunks(const Model& model, const std::vector<int>& tokens,
                                       const std::vector<int>& chunks) {
  Session session(model, int(tokens.size()));
  std::vector<float> all;
  size_t at = 0;
  for (int n : chunks) {
    const auto logits = session.Feed(std::span<const int>(tokens).subspan(at, n), /*all_logits=*/true);
    all.insert(all.end(), logits.begin(), logits.end());
    at += n;
  }
  EXPECT_EQ(at, tokens.size()) << "chunk sizes must add up to the token count";
  return all;
}

// All three feeding patterns of one model against the reference.
inline void CheckModel(const std::string& name, const std::string& path, const std::string& script = kLlamaReference) {
  SetThreads(2);
  const Model model = LoadModel(path);
  const int vocab = model.config.vocab_size;
  const std::vector<int> tokens = TestTokens(vocab);
  const std::vector<double> ref = ReferenceLogits(path, tokens, vocab, script);
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
    CompareLogits(name + " chunked", FeedInChunks(model, tokens, {7, 1, 5, 2, 11, 1, 13}), ref, vocab);
  }
}


}  // namespace quip::testing
