// `quip quantize --method qtip [--code ...]` (randomized Hadamard + bitshift trellis with a
// computed code, block LDLQ over 16×16 tiles) end to end through the real binary on the
// embedded stories260K (172-wide MLP: the last tile column and row block are padded).
// Independent references: the folder is re-read by `quip info` and `quip ppl`, whose
// perplexity must equal the one the quantizer measured in memory right after quantizing
// (printed with 4 decimals) and lie between fp32 and 1.5x the measured value; the same
// run on one thread writes a byte-identical model file.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

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

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string QuantizeArgs(int bits, const std::string& code, int threads, const std::string& out) {
  return "quantize --model " + ShellQuote(Stories()) + " --calib " + ShellQuote(Calib()) +
         " --nsamples 8 --ctx 64 --method qtip --code " + code + " --bits " + std::to_string(bits) + " --threads " +
         std::to_string(threads) + " -o " + ShellQuote(out);
}

struct Case {
  int bits;
  const char* code;
  double measured_ppl;  // on the 4 windows below; fp32 6.8625, QuIP# 95.17 / 28.89 / 12.91
};
// Every code once, every bit width once (HYB also exercises the model-level table).
constexpr Case kCases[] = {{2, "hyb", 56.48}, {3, "1mad", 14.70}, {4, "3inst", 7.96}};

TEST(QtipCli, QuantizesAndReloadsEveryCode) {
  const std::string dir = testing::MakeTempDir("cli-qtip");
  for (const Case& c : kCases) {
    SCOPED_TRACE(std::string(c.code) + " " + std::to_string(c.bits));
    const std::string out = dir + "/q" + std::to_string(c.bits);
    const auto q = Quip(QuantizeArgs(c.bits, c.code, 2, out) + " --eval " + ShellQuote(Calib()) + " --eval-windows 4");
    ASSERT_EQ(q.exit_code, 0) << q.out << q.err;
    const double in_memory = Match(q.out, R"(quantized ([0-9.]+) \(ratio)");
    const double bpw = Match(q.out, R"(\(([0-9.]+) bits/weight\))");
    EXPECT_GE(bpw, c.bits);
    EXPECT_LT(bpw, c.bits + 0.1);  // one scale per matrix; padding of the 172-wide linears

    const auto info = Quip("info --model " + ShellQuote(out));
    ASSERT_EQ(info.exit_code, 0) << info.err;
    EXPECT_THAT(info.out, HasSubstr(std::string("qtip-") + c.code + "-" + std::to_string(c.bits) + "bit"));

    const auto ppl = Quip("ppl --threads 1 --ctx 64 --max-windows 4 --model " + ShellQuote(out) + " --text " +
                          ShellQuote(Calib()));
    ASSERT_EQ(ppl.exit_code, 0) << ppl.err;
    const double reloaded = Match(ppl.out, R"(ppl ([0-9.]+) over)");
    EXPECT_GT(reloaded, Match(q.out, R"(fp32 ([0-9.]+) ->)")) << "cannot beat fp32";
    EXPECT_LT(reloaded, 1.5 * c.measured_ppl) << reloaded;  // a wrong decode or packing gives hundreds
    EXPECT_NEAR(reloaded, in_memory, 1e-4 * in_memory + 1e-4) << "the written folder computes another model";
  }
}

TEST(QtipCli, SameBytesOnOneThread) {
  const std::string dir = testing::MakeTempDir("cli-qtip-threads");
  for (int threads : {1, 2}) {
    const auto q = Quip(QuantizeArgs(2, "hyb", threads, dir + "/t" + std::to_string(threads)));
    ASSERT_EQ(q.exit_code, 0) << q.err;
  }
  const std::string one = ReadAll(dir + "/t1/model.safetensors"), two = ReadAll(dir + "/t2/model.safetensors");
  ASSERT_FALSE(one.empty());
  EXPECT_TRUE(one == two) << "the written model depends on the thread count";
}

TEST(QtipCli, CodeErrors) {
  const std::string dir = testing::MakeTempDir("cli-qtip-errors");
  const std::string base = "quantize --model " + ShellQuote(Stories()) + " --calib " + ShellQuote(Calib()) +
                           " --nsamples 8 --ctx 64 ";
  testing::ExpectCleanError(Quip(base + "--method qtip --code e8 -o " + ShellQuote(dir + "/bad")),
                            {"--code", "unknown code 'e8'", "1mad", "3inst", "hyb", "hash6", "xor7"});
  testing::ExpectCleanError(Quip(base + "--method quipsharp --code hyb -o " + ShellQuote(dir + "/bad")),
                            {"--code", "trellis"});
  testing::ExpectCleanError(Quip(base + "--method qtip --rounding optq -o " + ShellQuote(dir + "/bad")),
                            {"trellis", "ldlq", "optq"});
}

}  // namespace
}  // namespace quip
