// `quip bench --repeat` through the real binary on models/stories260K: the JSON keeps
// its keys and adds the spread. Reference: the order statistics themselves (the median
// of N runs lies between their min and max; N is echoed).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kernels/e8p_matvec.h"
#include "testing/quantized_folder.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
using testing::ShellQuote;

std::string BenchArgs(const std::string& extra) {
  return ShellQuote(testing::QuipBinary()) + " bench --threads 1 --prompt 16 --gen 8 --model " +
         ShellQuote(testing::StoriesModel()) + " " + extra;
}

TEST(Bench, RepeatReportsMedianAndSpread) {
  const auto r = testing::RunCommandSplit(BenchArgs("--repeat 5 --json"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* key : {"prompt_tps", "decode_tps", "weight_bytes_per_token", "prompt_tps_min", "prompt_tps_max",
                          "decode_tps_min", "decode_tps_max"})
    ASSERT_TRUE(j.contains(key) && j[key].is_number()) << key;
  EXPECT_EQ(j["repeat"], 5);
  EXPECT_GT(j["decode_tps_min"].get<double>(), 0);
  EXPECT_LE(j["decode_tps_min"].get<double>(), j["decode_tps"].get<double>());
  EXPECT_LE(j["decode_tps"].get<double>(), j["decode_tps_max"].get<double>());
  EXPECT_LE(j["prompt_tps_min"].get<double>(), j["prompt_tps"].get<double>());
  EXPECT_LE(j["prompt_tps"].get<double>(), j["prompt_tps_max"].get<double>());
}

TEST(Bench, DefaultTextShowsTheSpread) {
  const auto r = testing::RunCommandSplit(BenchArgs(""));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::HasSubstr("median of 3 runs, min "));
}

// Every codebook runs through the one quantized layer, so `"kernel"` says which path the
// QuIP# (E8P) layers took and the profile measures them (before, E8P layers were not
// profiled: both shares 0, and "kernel" followed the scalar layers only). Reference: the
// environment the command ran with, and decode time spent in the layers being non-zero.
TEST(Bench, KernelFieldAndProfileCoverE8PLayers) {
  const std::string folder = testing::WriteTinyQuantizedFolder("bench-e8p", "quipsharp", 2);
  for (const char* kernel : {"fast", "ref"}) {
    SCOPED_TRACE(kernel);
    const std::string env = std::string(kernel) == "ref" ? "QUIP_KERNEL=ref " : "";
    const auto r = testing::RunCommandSplit(env + ShellQuote(testing::QuipBinary()) +
                                            " bench --threads 1 --prompt 8 --gen 8 --repeat 1 --json --model " +
                                            ShellQuote(folder));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const nlohmann::json j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["format"], "e8p-2bit");
    EXPECT_EQ(j["kernel"], kernel);
    // Which fast E8P kernel the CPU runs: the AVX-512 one where it has VBMI, VNNI and GFNI
    // (kernels/e8p_matvec_avx512.h), else the Highway target's name.
    EXPECT_EQ(j["e8p_kernel"], kernels::E8PImplName());
    EXPECT_GT(j["quant_matmul_share"].get<double>(), 0.0);
    EXPECT_GT(j["rotation_share"].get<double>(), 0.0);
    EXPECT_LT(j["quant_matmul_share"].get<double>() + j["rotation_share"].get<double>(), 1.0);
  }
}

TEST(Bench, RepeatBelowOneIsRefused) {
  testing::ExpectCleanError(testing::RunCommandSplit(BenchArgs("--repeat 0")), {"--repeat"});
}

}  // namespace
}  // namespace quip
