// Usage errors and exit codes (issue 13, sections 2-4), through the real `quip` binary:
// a usage error (unknown command or option, missing or repeated option, a value that
// does not convert or lies outside its range) exits 2 with one `quip: error:` line that
// names the option and the valid range, before any work (each case runs in
// milliseconds: nothing is loaded); every other error exits 1. Also --version, the
// --threads cap and the context-full note of generate.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "testing/tiny_model.h"

namespace quip {
namespace {
using testing::ShellQuote;

std::string Stories() { return testing::SourceDir() + "/models/stories260K"; }
std::string Text() { return testing::SourceDir() + "/data/tinystories/tinystories-train-head.txt"; }

testing::SplitCommandResult Quip(const std::string& args) {
  return testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " " + args);
}

void ExpectUsageError(const std::string& args, const std::vector<std::string>& needles) {
  SCOPED_TRACE("quip " + args);
  const auto r = Quip(args);
  testing::ExpectCleanError(r, needles);
  EXPECT_EQ(r.exit_code, 2) << r.err;
}

std::string Model() { return " --model " + ShellQuote(Stories()); }
std::string Quantize() { return "quantize" + Model() + " --calib " + ShellQuote(Text()) + " -o unused-out"; }
std::string Ablate() { return "ablate" + Model() + " --calib " + ShellQuote(Text()) + " --eval " + ShellQuote(Text()); }
std::string Ppl() { return "ppl" + Model() + " --text " + ShellQuote(Text()); }

TEST(Usage, UnknownCommandIsNamed) {
  ExpectUsageError("frobnicate --model x", {"unknown command 'frobnicate'", "info, ppl, generate"});
}

TEST(Usage, NoCommand) { ExpectUsageError("", {"a command is required"}); }

TEST(Usage, UnknownOption) { ExpectUsageError(Ppl() + " --bogus", {"--bogus"}); }

TEST(Usage, MissingOption) { ExpectUsageError("ppl" + Model(), {"--text is required"}); }

TEST(Usage, RepeatedOption) {
  ExpectUsageError("generate" + Model() + " --temp 0 --temp 0.5", {"--temp", "given more than once"});
  ExpectUsageError("info" + Model() + Model(), {"--model", "given more than once"});
}

TEST(Usage, ValueThatDoesNotConvert) {
  ExpectUsageError(Ppl() + " --ctx abc", {"--ctx", "'abc'"});
  ExpectUsageError("generate" + Model() + " -n 12x", {"--tokens", "12x"});
}

// Every numeric option of every command has a range; choices are checked by their parser.
TEST(Usage, OutOfRangeValuesAreRejectedAsOptions) {
  struct Case {
    std::string command, option, value, expected;
  };
  const std::vector<Case> cases = {
      {"generate" + Model(), "--temp", "nan", "must be in [0, 100]"},
      {"generate" + Model(), "--temp", "inf", "must be in [0, 100]"},
      {"generate" + Model(), "--temp", "-0.5", "must be in [0, 100]"},
      {"generate" + Model(), "--top-p", "0", "must be in (0, 1]"},
      {"generate" + Model(), "--top-p", "1.5", "must be in (0, 1]"},
      {"generate" + Model(), "--top-p", "nan", "must be in (0, 1]"},
      {"generate" + Model(), "--tokens", "-1", "must be >= 0"},
      {"generate" + Model(), "--seed", "-1", "must be >= 0"},
      {"generate" + Model(), "--threads", "-2", "must be >= 0"},
      {Ppl(), "--max-windows", "-1", "must be >= 0"},
      {Ppl(), "--ctx", "0", "must be >= 2"},
      {Ppl(), "--ctx", "1", "must be >= 2"},
      {Quantize(), "--rho", "1e30", "must be in [0, 64]"},
      {Quantize(), "--rho", "-1", "must be in [0, 64]"},
      {Quantize(), "--rho2", "nan", "must be in [0, 64]"},
      {Quantize(), "--alpha", "-0.01", "must be in [0, 100]"},
      {Quantize(), "--alpha", "1e9", "must be in [0, 100]"},
      {Quantize(), "--nsamples", "0", "must be >= 1"},
      {Quantize(), "--ctx", "0", "must be >= 2"},
      {Quantize(), "--bits", "5", "must be in [2, 4]"},
      {Quantize(), "--rg-passes", "0", "must be in [1, 100]"},
      {Quantize(), "--eval-windows", "-3", "must be >= 0"},
      {Quantize(), "--method", "best", "unknown method 'best'"},
      {Quantize(), "--rounding", "round", "unknown method 'round'"},
      {Quantize(), "--incoherence", "fft", "unknown incoherence transform 'fft'"},
      {Quantize(), "--codebook", "e9", "unknown codebook 'e9'"},
      {Quantize(), "--targets", "all", "unknown value 'all'"},
      {Quantize(), "--bits-for", "v_proj=5", "expected NAME=BITS"},
      {Ablate(), "--bits", "2,5", "must be in [2, 4]"},
      {Ablate(), "--only", "QuIP,Nope", "unknown row 'Nope'"},
      {Ablate(), "--nsamples", "0", "must be >= 1"},
      {"bench" + Model(), "--prompt", "0", "must be >= 1"},
      {"bench" + Model(), "--gen", "-4", "must be >= 1"},
  };
  for (const Case& c : cases) ExpectUsageError(c.command + " " + c.option + " " + c.value, {c.option + ": ", c.expected});
}

TEST(Usage, OtherErrorsExitOne) {
  const auto r = Quip("info --model " + ShellQuote(testing::MakeTempDir("usage-missing") + "/nothing"));
  testing::ExpectCleanError(r, {"no such file or directory"});
  EXPECT_EQ(r.exit_code, 1);
}

TEST(Usage, Version) {
  const auto r = Quip("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, std::string("quip ") + QUIP_VERSION + "\n");
  EXPECT_EQ(r.err, "");
}

// More threads than the machine runs are capped with one note (999 threads used to make
// `generate` take 45 s for 5 tokens).
TEST(Usage, ThreadsAboveTheHardwareAreCapped) {
  const auto r = Quip("generate --threads 999 --temp 0 -n 2" + Model());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("quip: note: 999 threads requested but this machine runs "), std::string::npos) << r.err;
  EXPECT_NE(r.out, "");
}

// Generation that stops because the context is full says so (stories260K: 512 positions;
// the prompt takes 500 of them, so 100 tokens cannot fit).
TEST(Usage, GenerateSaysWhenTheContextIsFull) {
  std::string prompt;
  for (int i = 0; i < 50; ++i) prompt += "the cat sat on the mat. ";
  const auto r = Quip("generate --threads 1 --temp 0 -n 100 --prompt " + ShellQuote(prompt) + Model());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("quip: note: stopped after "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("of 100 tokens: the context is full (max_position_embeddings 512)"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace quip
