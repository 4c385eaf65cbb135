// `quip info` and quant_report.json through the real binary on models/stories260K.
// References: the report the same run wrote (info must show its figures, formatted as
// documented), std::filesystem for the folder's size, and the paths given on the
// command line (the report keeps relative ones as given and only the last name of
// absolute ones, so no path of this machine travels with the folder).
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::ShellQuote;

testing::SplitCommandResult Quip(const std::string& args) {
  return testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " " + args);
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Quantized once for all tests: relative --model and --eval (run from the source folder),
// absolute --calib and -o.
const std::string& QuantizedFolder() {
  static const std::string out = [] {
    const std::string dir = testing::MakeTempDir("cli-info") + "/out";
    const std::string calib = testing::SourceDir() + "/data/tinystories/tinystories-train-head.txt";
    const auto r = testing::RunCommandSplit(
        "cd " + ShellQuote(testing::SourceDir()) + " && " + ShellQuote(testing::QuipBinary()) +
        " quantize --model models/stories260K --calib " + ShellQuote(calib) +
        " --nsamples 8 --ctx 64 --threads 1 --seed 3 --eval data/tinystories/tinystories-train-head.txt"
        " --eval-windows 4 -o " + ShellQuote(dir));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return dir;
  }();
  return out;
}

TEST(QuantReport, HoldsNoAbsolutePathOfThisMachine) {
  const std::string text = ReadBytes(QuantizedFolder() + "/quant_report.json");
  const nlohmann::json report = nlohmann::json::parse(text);
  EXPECT_EQ(report["model"], "models/stories260K") << "a relative path stays as given";
  EXPECT_EQ(report["eval"]["text"], "data/tinystories/tinystories-train-head.txt");
  EXPECT_EQ(report["calib"], "tinystories-train-head.txt") << "an absolute path keeps only its last name";
  EXPECT_THAT(text, Not(HasSubstr(testing::SourceDir())));
  EXPECT_THAT(text, Not(HasSubstr(fs::path(QuantizedFolder()).parent_path().string())));
  EXPECT_EQ(report["calibration"]["windows"], 8);
  EXPECT_EQ(report["calibration"]["seed"], 3);
  EXPECT_EQ(report["calibration"]["sampling"], "token slots of the whole text");
  EXPECT_EQ(report["eval"]["windows"], 4);
}

TEST(Info, QuantizedFolderSummaryFirstTensorsBehindAFlag) {
  const std::string out = QuantizedFolder();
  const nlohmann::json report = nlohmann::json::parse(ReadBytes(out + "/quant_report.json"));
  const auto r = Quip("info --model " + ShellQuote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err, "");
  const std::string& s = r.out;
  EXPECT_THAT(s, HasSubstr("format       quip\n"));
  EXPECT_THAT(s, HasSubstr("method       quip at 2 bits"));
  EXPECT_THAT(s, HasSubstr(fmt::format("stored       {:.3f} bits per block-linear weight",
                                       report["bits_per_linear_weight"].get<double>())));
  EXPECT_THAT(s, HasSubstr(fmt::format("-> {:.2f} MB", report["linear_bytes"].get<double>() / 1e6)));
  int64_t folder = 0;
  for (const auto& e : fs::directory_iterator(out)) folder += int64_t(e.file_size());
  EXPECT_THAT(s, HasSubstr(fmt::format("folder {:.2f} MB", folder / 1e6)));
  EXPECT_THAT(s, HasSubstr(fmt::format("all weights {:.2f} MB as given",
                                       report["source_weight_bytes"].get<double>() / 1e6)));
  EXPECT_THAT(s, HasSubstr("calibration  8 windows of 64 tokens from tinystories-train-head.txt, targets original, "
                           "seed 3"));
  EXPECT_THAT(s, HasSubstr(fmt::format("quality      perplexity on data/tinystories/tinystories-train-head.txt (ctx "
                                       "64, 4 windows): fp32 {:.4f} -> quantized {:.4f}, ratio {:.4f}",
                                       report["eval"]["ppl_fp32"].get<double>(),
                                       report["eval"]["ppl_quantized"].get<double>(),
                                       report["eval"]["ratio"].get<double>())));
  // The summary comes before the architecture, and the tensor table only on request.
  EXPECT_LT(s.find("method"), s.find("architecture"));
  EXPECT_THAT(s, Not(HasSubstr("self_attn.q_proj.codes")));
  EXPECT_THAT(s, HasSubstr("(list them with --tensors)"));
  const auto t = Quip("info --tensors --model " + ShellQuote(out));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_THAT(t.out, HasSubstr("model.layers.0.self_attn.q_proj.codes"));
  EXPECT_EQ(t.out.rfind(s.substr(0, s.find("tensors "))), 0u) << "--tensors only adds the table";
}

TEST(Info, FolderWithoutReportStillSummarises) {
  const std::string dir = testing::MakeTempDir("cli-info-noreport") + "/copy";
  fs::copy(QuantizedFolder(), dir);
  fs::remove(dir + "/quant_report.json");
  auto r = Quip("info --model " + ShellQuote(dir));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("method       quip at 2 bits"));
  EXPECT_THAT(r.out, HasSubstr("report       none"));
  std::ofstream(dir + "/quant_report.json") << "{ not json";
  r = Quip("info --model " + ShellQuote(dir));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("quant_report.json")) << "a damaged report is named, not silently skipped";
  EXPECT_THAT(r.out, HasSubstr("report       none"));
}

TEST(Info, FullPrecisionModel) {
  const auto r = Quip("info --model " + ShellQuote(testing::SourceDir() + "/models/stories260K"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("parameters   260032\n"));
  EXPECT_THAT(r.out, HasSubstr("size         weights "));
  EXPECT_THAT(r.out, Not(HasSubstr("method ")));
  EXPECT_THAT(r.out, Not(HasSubstr("model.embed_tokens.weight")));
}

}  // namespace
}  // namespace quip
