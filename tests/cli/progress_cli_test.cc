// Progress of the real binary when stderr is a pipe, not a terminal: plain lines, no
// '\r' or terminal escapes, one line per finished step (QUIP_PROGRESS=all shows even
// the quick steps of these small runs; by default steps under 2 s stay silent). The
// reference is the contract in src/core/progress.h and the steps each command runs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "testing/tiny_model.h"

namespace quip {
namespace {
using ::testing::HasSubstr;
using testing::ShellQuote;


// stderr of `quip args` read through a pipe (stdout dropped).
std::string StderrThroughPipe(const std::string& env, const std::string& args) {
  const auto r = testing::RunCommandSplit("(" + env + " " + ShellQuote(testing::QuipBinary()) + " " + args +
                                          " 2>&1 >/dev/null; echo \"exit $?\") | cat");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("exit 0\n"));
  return r.out.substr(0, r.out.rfind("exit "));
}

void ExpectPlainLines(const std::string& err) {
  EXPECT_EQ(err.find('\r'), std::string::npos) << err;
  EXPECT_EQ(err.find('\033'), std::string::npos) << err;
  EXPECT_TRUE(err.empty() || err.back() == '\n') << err;
}

TEST(ProgressCli, PplOnAPipeWritesOneLinePerStep) {
  const std::string err = StderrThroughPipe(
      "QUIP_PROGRESS=all",
      "ppl --threads 1 --ctx 64 --max-windows 6 --model " + ShellQuote(testing::StoriesModel()) + " --text " + ShellQuote(testing::TinyStoriesText()));
  ExpectPlainLines(err);
  EXPECT_TRUE(std::regex_search(err, std::regex("^loading .*stories260K \\([0-9.]+ s\\)\n")));
  EXPECT_TRUE(std::regex_search(err, std::regex("\ntokenizing .*tinystories-train-head.txt \\([0-9.]+ s\\)\n")));
  EXPECT_TRUE(std::regex_search(err, std::regex("\nppl window 6/6 \\([0-9.]+ s\\)\n$"))) << err;
}

TEST(ProgressCli, QuantizeOnAPipeReportsEveryStep) {
  const std::string out = testing::MakeTempDir("cli-progress") + "/out";
  const std::string err = StderrThroughPipe(
      "QUIP_PROGRESS=all", "quantize --threads 1 --nsamples 8 --ctx 64 --model " + ShellQuote(testing::StoriesModel()) +
                               " --calib " + ShellQuote(testing::TinyStoriesText()) + " --eval " + ShellQuote(testing::TinyStoriesText()) +
                               " --eval-windows 4 -o " + ShellQuote(out));
  ExpectPlainLines(err);
  EXPECT_EQ(err.rfind("loading ", 0), 0u) << err;
  for (const char* line : {": 8 windows of 64 tokens from ", "\nppl (fp32) window 4/4 (",
                           "\nquantize layer 5/5 (", "\nppl (quantized) window 4/4 (", "\nwriting "})
    EXPECT_THAT(err, HasSubstr(line));
}

TEST(ProgressCli, DefaultOnAPipeIsPlainAndOffIsSilent) {
  const std::string args = "ppl --threads 1 --ctx 64 --max-windows 2 --model " + ShellQuote(testing::StoriesModel()) + " --text " +
                           ShellQuote(testing::TinyStoriesText());
  ExpectPlainLines(StderrThroughPipe("", args));
  EXPECT_EQ(StderrThroughPipe("QUIP_PROGRESS=off", args), "");
}

}  // namespace
}  // namespace quip
