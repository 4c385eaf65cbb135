// Quality pins: short `quip quantize` runs on the shipped books-llama-5m and a short
// `quip ablate` on stories260K, through the real binary, each ratio ppl(quantized) /
// ppl(fp32) held to a band around its measured value. The runs are deterministic (seeded
// windows and rotations, independent of the thread count: docs/determinism.md), so the band
// only absorbs floating-point differences between CPUs; it is several times narrower than
// the effect of a real regression, measured by breaking the code (kBooksPins). The lower
// edge catches a run that quietly does not quantize (ratio 1). The perplexities themselves
// are checked against `quip ppl` on the written folder (codes, packing and format) and on
// the fp32 model. Full-length numbers: bench/results/, docs/results.md.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "pipeline/ablation.h"
#include "pipeline/quantize_model.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
using testing::ShellQuote;

std::string Repo(const std::string& rel) { return testing::SourceDir() + "/" + rel; }

testing::SplitCommandResult Quip(const std::string& args) {
  return testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " " + args);
}

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  return nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
}

// `quip ppl --json` of a model folder on the first `windows` windows of `text`.
double PplOf(const std::string& model, const std::string& text, int ctx, int windows) {
  const auto r = Quip("ppl --json --threads 2 --model " + ShellQuote(model) + " --text " + ShellQuote(text) +
                      " --ctx " + std::to_string(ctx) + " --max-windows " + std::to_string(windows));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out, nullptr, false);
  return j.is_object() && j.contains("ppl") ? j["ppl"].get<double>() : 0.0;
}

// The first ~256 KiB of books train (cut at a line end): 16 windows need ~5k tokens, and
// tokenizing all 11.8 MB would take longer than the quantization itself.
std::string BooksCalibHead(const std::string& dir) {
  std::ifstream in(Repo("data/books/train.txt"), std::ios::binary);
  std::string text(256 * 1024, '\0');
  in.read(text.data(), std::streamsize(text.size()));
  text.resize(size_t(in.gcount()));
  text.resize(text.rfind('\n') + 1);
  const std::string path = dir + "/train-head.txt";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

struct Pin {
  const char* method;
  int bits;
  double ratio;   // measured (books valid, first 16 windows of 256 tokens)
  double margin;  // allowed |ratio − measured|
};

// books-llama-5m, `quip quantize` defaults (--targets original), 16 calibration windows.
// Measured ratios; the margin is under a third of the smallest effect of a deliberate break
// (measured when these pins were set; the code changes were not committed):
//   scalar LDLQ without its in-block feedback (rounding.cc)       QuIP  1.2475 -> 1.2846
//   nearest rounding instead of LDLQ (--rounding near)            QuIP  1.2475 -> 1.2837
//   block LDLQ without its in-block feedback (block_ldlq.cc)      QuIP# 1.1532 -> 1.2126
//   grid range ρ 1.2 instead of 1.8 (--rho)                       QuIP  1.2475 -> 1.3922
//   E8P scale ρ 0.8 instead of 1.15 (--rho)                       QuIP# 1.1532 -> 1.2501
//   Hessians from a calibration stream never advanced past block 0 QuIP 118.5, QuIP# 124.8
//   (calibration_streams.cc; CalibrationStreams.* fail too)
//   2-bit codes packed with each group's bytes reversed (packing.cc) QuIP  717.4
constexpr Pin kBooksPins[] = {
    {"quip", 2, 1.2475, 0.010},
    {"quipsharp", 2, 1.1532, 0.010},
};

void CheckBooksPin(const Pin& pin) {
  const std::string dir = testing::MakeTempDir(std::string("quality-books-") + pin.method);
  const std::string model = Repo("models/books-llama-5m"), valid = Repo("data/books/valid.txt");
  const std::string out = dir + "/out";
  const auto q = Quip("quantize --threads 2 --seed 0 --nsamples 16 --eval-windows 16 --model " + ShellQuote(model) +
                      " --calib " + ShellQuote(BooksCalibHead(dir)) + " --eval " + ShellQuote(valid) + " --method " +
                      pin.method + " --bits " + std::to_string(pin.bits) + " -o " + ShellQuote(out));
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const nlohmann::json report = ReadJson(out + "/quant_report.json");
  ASSERT_TRUE(report.contains("eval")) << report.dump();
  const double ratio = report["eval"]["ratio"].get<double>();
  std::printf("books-llama-5m %s %d bits: ratio %.4f (pinned %.4f ± %.3f)\n", pin.method, pin.bits, ratio, pin.ratio,
              pin.margin);
  EXPECT_NEAR(ratio, pin.ratio, pin.margin);
  // The folder as written computes the model that was scored in memory, and the fp32
  // perplexity is the one `quip ppl` gives the source model.
  const double reloaded = PplOf(out, valid, 256, 16);
  EXPECT_NEAR(reloaded, report["eval"]["ppl_quantized"].get<double>(), 1e-9 * reloaded);
  const double fp32 = report["eval"]["ppl_fp32"].get<double>();
  EXPECT_NEAR(PplOf(model, valid, 256, 16), fp32, 1e-9 * fp32);
}

TEST(QualityPins, BooksLlama5mQuipTwoBit) { CheckBooksPin(kBooksPins[0]); }
TEST(QualityPins, BooksLlama5mQuipSharpTwoBit) { CheckBooksPin(kBooksPins[1]); }

// `quip ablate` on stories260K: the JSON it writes (every published ablation number comes
// from such a file), row by row against the row table, and ratio bands at 4 and 3 bits (at
// 2 bits this 260K-parameter model is far from fp32, ratio ~20).
struct AblatePin {
  const char* name;
  int bits;
  double ratio;
};
// Measured; a 260K-parameter model quantizes erratically (Near beats QuIP at 4 bits), so
// these bands (2 % of the ratio) guard against gross failures; the books pins are the
// sensitive ones.
constexpr AblatePin kAblatePins[] = {
    {"Near", 4, 1.1052}, {"Near", 3, 2.7294}, {"QuIP", 4, 1.5036}, {"QuIP", 3, 3.5586},
    {"QuIP#", 4, 1.7605}, {"QuIP#", 3, 3.1968}, {"QuIP# + asym", 4, 1.5745}, {"QuIP# + asym", 3, 2.7017},
};
constexpr double kAblateRelativeMargin = 0.02;

TEST(QualityPins, AblateOnStories260KWritesTheRowsItNames) {
  const std::string dir = testing::MakeTempDir("quality-ablate");
  const std::string model = Repo("models/stories260K"), text = Repo("data/tinystories/tinystories-train-head.txt");
  const std::string only = "Near,QuIP,QuIP#,QuIP# + asym";
  const auto a = Quip("ablate --threads 2 --model " + ShellQuote(model) + " --calib " + ShellQuote(text) + " --eval " +
                      ShellQuote(text) + " --bits 4,3 --nsamples 16 --ctx 128 --eval-windows 8 --only " +
                      ShellQuote(only) + " --out " + ShellQuote(dir + "/out"));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const nlohmann::json r = ReadJson(dir + "/out/ablate.json");
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r["model"], model);
  EXPECT_EQ(r["calib"], text);
  EXPECT_EQ(r["nsamples"], 16);
  EXPECT_EQ(r["ctx"], 128);
  EXPECT_EQ(r["eval_windows"], 8);
  EXPECT_EQ(r["seed"], 0);
  ASSERT_EQ(r["evals"].size(), 1u);
  const nlohmann::json& eval = r["evals"][0];
  EXPECT_EQ(eval["text"], text);
  EXPECT_EQ(eval["windows"], 8);
  const double fp32 = eval["fp32_ppl"].get<double>();
  EXPECT_NEAR(fp32, PplOf(model, text, 128, 8), 1e-9 * fp32);

  // Runs: the selected rows in table order, each at 4 then 3 bits, with the row's fields.
  std::vector<AblationRow> rows;
  for (const AblationRow& row : PaperAblationRows())
    if (row.name == "Near" || row.name == "QuIP" || row.name == "QuIP#" || row.name == "QuIP# + asym")
      rows.push_back(row);
  ASSERT_EQ(r["runs"].size(), 2 * rows.size());
  for (size_t i = 0; i < r["runs"].size(); ++i) {
    const nlohmann::json& run = r["runs"][i];
    const AblationRow& row = rows[i / 2];
    const int bits = i % 2 == 0 ? 4 : 3;
    SCOPED_TRACE(row.name + " " + std::to_string(bits) + " bits");
    EXPECT_EQ(run["name"], row.name);
    EXPECT_EQ(run["group"], row.group);
    EXPECT_EQ(run["method"], row.method);
    EXPECT_EQ(run["targets"], CalibrationTargetsName(row.targets));
    EXPECT_EQ(run["bits"], bits);
    const double bpw = run["bits_per_linear_weight"].get<double>();
    EXPECT_GE(bpw, bits);
    EXPECT_LT(bpw, bits + 1.0);  // scales (per row for Near) and D̃ on these 64/172-wide linears
    const double ppl = run["ppl"][text].get<double>(), ratio = run["ratio"][text].get<double>();
    EXPECT_NEAR(ratio, ppl / fp32, 1e-12 * ratio);
    for (const AblatePin& pin : kAblatePins)
      if (row.name == pin.name && bits == pin.bits) {
        std::printf("stories260K ablate %s %d bits: ratio %.4f (pinned %.4f ± %.0f %%)\n", pin.name, bits, ratio,
                    pin.ratio, 100 * kAblateRelativeMargin);
        EXPECT_NEAR(ratio, pin.ratio, kAblateRelativeMargin * pin.ratio);
      }
  }
  // A row is the configuration `quip quantize` builds from the same options: QuIP# at 4 bits
  // with the paper's calibration, scored on the same windows.
  const auto q = Quip("quantize --threads 2 --seed 0 --nsamples 16 --ctx 128 --eval-windows 8 --method quipsharp "
                      "--bits 4 --targets block --model " + ShellQuote(model) + " --calib " + ShellQuote(text) +
                      " --eval " + ShellQuote(text) + " -o " + ShellQuote(dir + "/quipsharp4"));
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const nlohmann::json report = ReadJson(dir + "/quipsharp4/quant_report.json");
  EXPECT_NEAR(report["eval"]["ppl_quantized"].get<double>(), r["runs"][4]["ppl"][text].get<double>(), 1e-9 * fp32);
  // The Markdown table names every row.
  std::ifstream md(dir + "/out/ablate.md");
  std::stringstream ss;
  ss << md.rdbuf();
  for (const AblationRow& row : rows) EXPECT_NE(ss.str().find("| " + row.name + " |"), std::string::npos) << row.name;
}

}  // namespace
}  // namespace quip
