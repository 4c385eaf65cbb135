// Real models end to end through the `quip` binary: books-llama-5m perplexity and
// greedy text (numbers from its README), the embedded stories260K story and
// perplexity, and the real weights against the NumPy reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/forward.h"
#include "pipeline/load.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using testing::BooksValid;
using testing::ShellQuote;
using testing::TinyStoriesText;

std::string Books() { return testing::BooksModel(); }
std::string Stories() { return testing::StoriesModel(); }

nlohmann::json RunPplJson(const std::string& args) {
  const auto r = testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " ppl --json --threads 2 " + args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "ppl --json did not print JSON: " << r.out << "\n" << r.err;
    return {};
  }
}

// README of books-llama-5m: quip protocol, ctx 256, 605 windows, 154275 predictions, ppl 49.7610
// (PyTorch and an independent implementation agree). ~1 min with 2 threads.
// Bounds: within the README's rounding (±5e-5; measured 49.76101450, 1.45e-5 off), and
// within 5e-6 of quip's own value 49.7610145 (bench/results: 49.76101451 and 49.76101473
// from runs with other thread counts, a spread of 2.2e-7; bound 23x that).
TEST(RealModels, BooksLlama5mPerplexityMatchesReadme) {
  const auto j = RunPplJson("--model " + ShellQuote(Books()) + " --text " + ShellQuote(BooksValid()) + " --ctx 256");
  ASSERT_TRUE(j.is_object());
  const double ppl = j["ppl"].get<double>();
  std::printf("books-llama-5m ppl %.8f (README 49.7610), %lld tokens, %d windows, %.1f s\n", ppl,
              j["tokens"].get<long long>(), j["windows"].get<int>(), j["seconds"].get<double>());
  EXPECT_EQ(j["windows"].get<int>(), 605);
  EXPECT_EQ(j["tokens"].get<int64_t>(), 154275);
  EXPECT_NEAR(ppl, 49.7610, 5e-5);
  EXPECT_NEAR(ppl, 49.7610145, 5e-6);
}

// README of books-llama-5m: greedy [It was a dark and stormy night, and] -> ' the sun was full of autumn, ...'
TEST(RealModels, BooksLlama5mGreedyContinuation) {
  const std::string prompt = "It was a dark and stormy night, and";
  const auto r = testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " generate --threads 2 --temp 0 -n 12 --model " +
                                          ShellQuote(Books()) + " --prompt " + ShellQuote(prompt));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind(prompt + " the sun was full of autumn", 0), 0u) << r.out;
}

// The well-known llama2.c story, greedy from BOS.
TEST(RealModels, Stories260KGreedyStory) {
  const auto r = testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " generate --threads 2 --temp 0 -n 40 --model " +
                                          ShellQuote(Stories()));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.", 0),
            0u)
      << r.out;
}

// stories260K on the TinyStories train head (in-domain). No published value for this
// text: the forward pass is checked against NumPy (Stories260KMatchesReference) and the
// windowing against the NumPy protocol (tests/text/perplexity_test.cc); this pins the
// value. Measured 6.99252026 (bench/results/ablate-stories260K: 6.99252038, another build
// and thread count; spread 1.2e-7); bound 5e-6 (40x).
TEST(RealModels, Stories260KPerplexity) {
  const auto j = RunPplJson("--model " + ShellQuote(Stories()) + " --text " + ShellQuote(TinyStoriesText()));
  ASSERT_TRUE(j.is_object());
  const double ppl = j["ppl"].get<double>();
  std::printf("stories260K ppl %.8f on tinystories-train-head.txt, ctx 256, %lld tokens, %d windows\n", ppl,
              j["tokens"].get<long long>(), j["windows"].get<int>());
  EXPECT_EQ(j["windows"].get<int>(), 394);
  EXPECT_EQ(j["tokens"].get<int64_t>(), 100470);
  EXPECT_NEAR(ppl, 6.9925203, 5e-6);
}

// `ppl --reference`: the model against itself gives KL 0 and full top-1 agreement with the same
// perplexity (the KL itself is checked against NumPy in tests/text/perplexity_test.cc); a
// reference folder that does not exist is an error naming it.
TEST(RealModels, PplAgainstItselfAsReference) {
  const auto j = RunPplJson("--model " + ShellQuote(Stories()) + " --reference " + ShellQuote(Stories()) +
                            " --max-windows 4 --text " + ShellQuote(TinyStoriesText()));
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["kl_divergence"].get<double>(), 0.0);
  EXPECT_EQ(j["kl_divergence_max"].get<double>(), 0.0);
  EXPECT_EQ(j["same_top1"].get<double>(), 1.0);
  EXPECT_EQ(j["reference_ppl"].get<double>(), j["ppl"].get<double>());
  const std::string missing = testing::MakeTempDir("ppl-missing-reference") + "/nothing-here";
  const auto r = testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " ppl --model " + ShellQuote(Stories()) +
                                          " --reference " + ShellQuote(missing) + " --text " + ShellQuote(TinyStoriesText()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("nothing-here"), std::string::npos) << r.err;
}

// Logits of a real model at every position against the NumPy reference (float64).
void CompareWithReference(const std::string& model_path, const std::vector<int>& tokens) {
  const Model model = LoadModel(model_path);
  const int vocab = model.config.vocab_size;
  std::string ids;
  for (int t : tokens) {
    if (!ids.empty()) ids += ',';
    ids += std::to_string(t);
  }
  const std::string out = testing::MakeTempDir("real-ref") + "/logits.f64";
  const auto r = testing::RunCommand("/usr/bin/python3 " + ShellQuote(testing::SourceDir() + "/tools/llama_reference.py") +
                                     " --model " + ShellQuote(model_path) + " --tokens " + ids + " --out " + ShellQuote(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<double> ref(tokens.size() * vocab);
  std::ifstream(out, std::ios::binary).read(reinterpret_cast<char*>(ref.data()), std::streamsize(ref.size() * 8));
  SetThreads(2);
  Session session(model, int(tokens.size()));
  const auto logits = session.Feed(tokens, true);
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(double(logits[i]) - ref[i]));
    max_ref = std::max(max_ref, std::fabs(ref[i]));
  }
  std::printf("[%s] max |diff| %.3e, max |ref| %.3f, relative %.3e\n", model_path.c_str(), max_diff, max_ref,
              max_diff / max_ref);
  // Measured 4.1e-7 (stories260K) and 9.5e-7 (books-llama-5m): float32 against float64
  // over a few layers. Bound 1e-5 (10-25x).
  EXPECT_LE(max_diff / max_ref, 1e-5);
}

TEST(RealModels, Stories260KMatchesReference) {
  const Model model = LoadModel(Stories());
  const auto tokenizer = LoadTokenizer(model);
  std::vector<int> tokens{1};
  for (int id : tokenizer->Encode("Once upon a time, there was a little dog named Max. He liked to run in the sun."))
    tokens.push_back(id);
  CompareWithReference(Stories() + "/stories260K.bin", tokens);
}

TEST(RealModels, BooksLlama5mMatchesReference) {
  const Model model = LoadModel(Books());
  const auto tokenizer = LoadSentencePieceTokenizer(Books() + "/tokenizer.model");
  std::vector<int> tokens{1};
  for (int id : tokenizer->Encode("The old man looked at her and said that the night was dark, and the wind was cold."))
    tokens.push_back(id);
  CompareWithReference(Books(), tokens);
}

}  // namespace
}  // namespace quip
