// `quip finetune` through the real binary on the embedded stories260K quantized with QuIP#
// at 2 bits: the tuned folder is an ordinary quip folder (`quip info` and `quip ppl` read it),
// its perplexity on the calibration text is below the untuned folder's (the reference:
// `quip ppl` of the input folder on the same windows), and the command keeps the output rules
// (no overwrite without --force) and the error contract on bad input; `--teacher-top-k` tunes on
// compact targets computed ahead. `quantize --block-tune`
// lowers every block's held-out MSE to the fp32 block's output and writes a folder whose
// perplexity equals the one measured in memory, the same at 1 and 2 threads.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "io/safetensors.h"
#include "testing/quantized_folder.h"
#include "testing/scratch.h"
#include "testing/quip_command.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
using ::testing::HasSubstr;
using testing::ShellQuote;

using testing::Match;
using testing::Quip;

std::string Stories() { return testing::StoriesModel(); }
std::string Calib() { return testing::TinyStoriesText(); }

double Ppl(const std::string& model) {
  const auto r = Quip("ppl --threads 1 --ctx 64 --max-windows 8 --model " + ShellQuote(model) + " --text " +
                      ShellQuote(Calib()));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return Match(r.out, R"(ppl ([0-9.]+) over)");
}

TEST(FinetuneCli, TunesReloadsAndKeepsTheOutputRules) {
  const std::string dir = testing::MakeTempDir("cli-finetune");
  const std::string quantized = dir + "/q2", tuned = dir + "/q2-tuned";
  const auto q = Quip("quantize --model " + ShellQuote(Stories()) + " --calib " + ShellQuote(Calib()) +
                      " --nsamples 8 --ctx 64 --threads 1 --method quipsharp --bits 2 -o " + ShellQuote(quantized));
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const std::string common = " --teacher " + ShellQuote(Stories()) + " --calib " + ShellQuote(Calib()) +
                             " --windows 16 --valid-windows 2 --ctx 64 --steps 30 --eval-every 10 --lr 3e-3 "
                             "--threads 1 -o " + ShellQuote(tuned);
  const auto ft = Quip("finetune --model " + ShellQuote(quantized) + common);
  ASSERT_EQ(ft.exit_code, 0) << ft.err;
  const double kl_before = Match(ft.out, R"(held-out KL to .* ([0-9.]+) ->)");
  const double kl_after = Match(ft.out, R"(-> ([0-9.]+) \(kept)");
  EXPECT_LT(kl_after, kl_before);

  const auto info = Quip("info --model " + ShellQuote(tuned));
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr("e8p-2bit"));
  const double before = Ppl(quantized), after = Ppl(tuned);
  EXPECT_LT(after, before);

  // --teacher-top-k: targets computed ahead (top 32 of 512 tokens and the rest's mass), the
  // teacher freed before tuning; the tuned folder also beats the untuned one.
  const std::string topk = dir + "/q2-topk";
  const auto tk = Quip("finetune --model " + ShellQuote(quantized) + std::regex_replace(common, std::regex(" -o .*$"), "") +
                       " --teacher-top-k 32 -o " + ShellQuote(topk));
  ASSERT_EQ(tk.exit_code, 0) << tk.err;
  EXPECT_LT(Ppl(topk), before);
  testing::ExpectCleanError(Quip("finetune --model " + ShellQuote(quantized) +
                                 std::regex_replace(common, std::regex(" -o .*$"), "") + " --teacher-top-k 100000 -o " +
                                 ShellQuote(dir + "/never")),
                            {"--teacher-top-k", "exceeds the vocabulary"});
  EXPECT_FALSE(std::filesystem::exists(dir + "/never"));

  // Never overwrites: the second run refuses before any work and leaves the folder as it was.
  const auto mtime = std::filesystem::last_write_time(tuned + "/model.safetensors");
  const auto again = Quip("finetune --model " + ShellQuote(quantized) + common);
  testing::ExpectCleanError(again, {tuned});
  EXPECT_EQ(std::filesystem::last_write_time(tuned + "/model.safetensors"), mtime);

  // --dump-gradient (tools/finetune_grad_reference.py's input): one file of float64 tensors,
  // a gradient for every tuned tensor, -o left alone, never overwritten without --force.
  const std::string dump = dir + "/grad.safetensors";
  const std::string dump_cmd = "finetune --model " + ShellQuote(quantized) + " --teacher " + ShellQuote(Stories()) +
                               " --calib " + ShellQuote(Calib()) + " --ctx 16 --threads 1 -o " +
                               ShellQuote(dir + "/unused") + " --dump-gradient " + ShellQuote(dump);
  const auto d = Quip(dump_cmd);
  ASSERT_EQ(d.exit_code, 0) << d.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/unused"));
  {
    const SafetensorsFile f(dump);
    const SafetensorsTensor* loss = f.Find("loss");
    ASSERT_NE(loss, nullptr);
    EXPECT_EQ(loss->dtype, DType::kF64);
    EXPECT_GT(*reinterpret_cast<const double*>(f.RawBytes(*loss)), 0.0);
    int grads = 0;
    for (const SafetensorsTensor& t : f.tensors()) grads += t.name.rfind("grad/", 0) == 0;
    EXPECT_EQ(grads, 5 * 23 + 1);  // stories260K: 5 blocks × 23 tensors and the final norm
    ASSERT_NE(f.Find("tokens"), nullptr);
    EXPECT_EQ(f.Find("tokens")->shape, std::vector<int64_t>{16});
  }
  testing::ExpectCleanError(Quip(dump_cmd), {dump, "exists"});

  const std::string other = " --calib " + ShellQuote(Calib()) + " -o " + ShellQuote(dir + "/bad");
  testing::ExpectCleanError(Quip("finetune --model " + ShellQuote(Stories()) + " --teacher " + ShellQuote(Stories()) +
                                 other),
                            {"is not a quantized quip folder"});
  testing::ExpectCleanError(Quip("finetune --model " + ShellQuote(quantized) + " --teacher " +
                                 ShellQuote(quantized) + other),
                            {"the teacher must be the fp32 model"});
  testing::ExpectCleanError(Quip("finetune --model " + ShellQuote(quantized) + " --teacher " +
                                 ShellQuote(testing::BooksModel()) + other),
                            {"another architecture"});
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad"));
}

// A NaN in the teacher's last weight (the loader drops each weight's pages after checking it,
// core/mapped_file.h, but still checks every one at load): one clean error naming the file and
// the tensor, with and without --teacher-top-k, and no tuned folder.
TEST(FinetuneCli, NonFiniteTeacherWeightIsRefusedByName) {
  const std::string quantized = testing::WriteTinyQuantizedFolder("cli-finetune-nan-teacher", "quipsharp", 2);
  const std::string dir = std::filesystem::path(quantized).parent_path().string(), teacher = dir + "/fp32-nan";
  std::filesystem::copy(dir + "/fp32", teacher);
  const std::string tensor = "model.layers.1.mlp.down_proj.weight";
  testing::RewriteSafetensors(teacher + "/model.safetensors", [&](auto&, std::map<std::string, testing::StoredTensor>& t) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(t.at(tensor).bytes.data() + t.at(tensor).bytes.size() - 4, &nan, 4);
  });
  for (const std::string top_k : {"", " --teacher-top-k 8"}) {
    SCOPED_TRACE(top_k);
    testing::ExpectCleanError(Quip("finetune --model " + ShellQuote(quantized) + " --teacher " + ShellQuote(teacher) +
                                   " --calib " + ShellQuote(Calib()) + " --windows 2 --ctx 16 --steps 1 --threads 1" +
                                   top_k + " -o " + ShellQuote(dir + "/never")),
                              {teacher + "/model.safetensors", tensor, "non-finite"});
    EXPECT_FALSE(std::filesystem::exists(dir + "/never"));
  }
}

// `quantize --finetune`: the report has the fine-tuning section and the perplexity the
// quantizer measured in memory after tuning equals `quip ppl` of the written folder.
TEST(FinetuneCli, QuantizeWithFinetune) {
  const std::string out = testing::MakeTempDir("cli-quantize-finetune") + "/q2";
  const auto q = Quip("quantize --model " + ShellQuote(Stories()) + " --calib " + ShellQuote(Calib()) +
                      " --nsamples 8 --ctx 64 --threads 1 --method quipsharp --bits 2 --finetune --finetune-steps 10 "
                      "--finetune-windows 8 --finetune-valid-windows 2 --finetune-eval-every 5 -o " +
                      ShellQuote(out) + " --eval " + ShellQuote(Calib()) + " --eval-windows 4");
  ASSERT_EQ(q.exit_code, 0) << q.err;
  const nlohmann::json report = nlohmann::json::parse(testing::ReadFileText(out + "/quant_report.json"));
  ASSERT_TRUE(report.contains("finetune"));
  EXPECT_EQ(report["finetune"]["steps"], 10);
  EXPECT_LE(report["finetune"]["valid_kl_after"].get<double>(), report["finetune"]["valid_kl_before"].get<double>());
  const auto ppl = Quip("ppl --threads 1 --ctx 64 --max-windows 4 --model " + ShellQuote(out) + " --text " +
                        ShellQuote(Calib()));
  ASSERT_EQ(ppl.exit_code, 0) << ppl.err;
  EXPECT_NEAR(Match(ppl.out, R"(ppl ([0-9.]+) over)"), Match(q.out, R"(quantized ([0-9.]+) \(ratio)"), 1e-4);
}

// `quantize --block-tune`: each block's held-out MSE (the report's before: the rounded block,
// measured by the same code) falls with QuIP#'s target (the default: the fp32 block on the same
// input) in every block, and with the fp32 model's stream as the target (which carries the
// earlier blocks' error) never rises and falls in total; the folder reloads to the perplexity
// measured in memory; 1 and 2 threads write the same bytes.
TEST(FinetuneCli, QuantizeWithBlockTune) {
  const std::string dir = testing::MakeTempDir("cli-quantize-block-tune");
  auto quantize = [&](const std::string& out, int threads, const std::string& extra = "") {
    return Quip("quantize --model " + ShellQuote(Stories()) + " --calib " + ShellQuote(Calib()) +
                " --nsamples 12 --ctx 64 --threads " + std::to_string(threads) +
                " --method quipsharp --bits 2 --block-tune --block-tune-steps 60 --block-tune-lr 3e-3 -o " +
                ShellQuote(out) + " --eval " + ShellQuote(Calib()) + " --eval-windows 4 " + extra);
  };
  auto blocks = [&](const std::string& out) {
    const nlohmann::json report = nlohmann::json::parse(testing::ReadFileText(out + "/quant_report.json"));
    EXPECT_EQ(report["block_tune"]["steps"], 60);
    EXPECT_EQ(report["block_tune"]["blocks"].size(), 5u);  // stories260K's blocks
    return report["block_tune"]["blocks"];
  };
  const auto original = quantize(dir + "/original", 2, "--block-tune-target original");
  ASSERT_EQ(original.exit_code, 0) << original.err;
  double before = 0, after = 0;
  for (const nlohmann::json& b : blocks(dir + "/original")) {
    SCOPED_TRACE(b.dump());
    EXPECT_LE(b["mse_after"].get<double>(), b["mse_before"].get<double>());
    before += b["mse_before"].get<double>();
    after += b["mse_after"].get<double>();
  }
  EXPECT_LT(after, before);
  const auto q = quantize(dir + "/t2", 2);
  ASSERT_EQ(q.exit_code, 0) << q.err;
  for (const nlohmann::json& b : blocks(dir + "/t2")) {
    SCOPED_TRACE(b.dump());
    EXPECT_GT(b["best_step"].get<int>(), 0);
    EXPECT_LT(b["mse_after"].get<double>(), b["mse_before"].get<double>());
  }
  const auto ppl = Quip("ppl --threads 1 --ctx 64 --max-windows 4 --model " + ShellQuote(dir + "/t2") + " --text " +
                        ShellQuote(Calib()));
  ASSERT_EQ(ppl.exit_code, 0) << ppl.err;
  const double in_memory = Match(q.out, R"(quantized ([0-9.]+) \(ratio)");
  EXPECT_NEAR(Match(ppl.out, R"(ppl ([0-9.]+) over)"), in_memory, 1e-4 * in_memory);

  const auto one = quantize(dir + "/t1", 1);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  testing::ExpectSameFolder(dir + "/t1", dir + "/t2");
  // A usage error names the option; the original-stream target needs that stream.
  testing::ExpectCleanError(Quip("quantize --model " + ShellQuote(Stories()) + " --calib " + ShellQuote(Calib()) +
                                 " --block-tune --block-tune-steps 0 -o " + ShellQuote(dir + "/bad")),
                            {"--block-tune-steps"});
  testing::ExpectCleanError(Quip("quantize --model " + ShellQuote(Stories()) + " --calib " + ShellQuote(Calib()) +
                                  " --nsamples 4 --ctx 16 --targets block --block-tune --block-tune-target original -o " + ShellQuote(dir + "/bad")),
                            {"--block-tune-target", "--targets original"});
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad"));
}

}  // namespace
}  // namespace quip
