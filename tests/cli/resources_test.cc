// Resource limits (issue 6): `quip quantize` estimates memory and disk before the long
// part of the run and fails at once, with the numbers, when the machine has less. The
// available amounts are faked with QUIP_FAKE_MEM_AVAILABLE / QUIP_FAKE_DISK_AVAILABLE.
// Issue 13: the same for ppl/generate/bench, and an address-space limit (`ulimit -v`,
// set for real in a subshell) fails fast instead of hanging inside OpenBLAS.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <string>

#include "core/resources.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using testing::ShellQuote;

std::string Quantize(const std::string& env, const std::string& out) {
  return env + " " + ShellQuote(testing::QuipBinary()) + " quantize --model " +
         ShellQuote(testing::SourceDir() + "/models/stories260K") + " --calib " +
         ShellQuote(testing::SourceDir() + "/data/tinystories/tinystories-train-head.txt") +
         " --nsamples 8 --ctx 64 --threads 1 -o " + ShellQuote(out);
}

TEST(Resources, ShortMemoryFailsEarlyWithTheNumbers) {
  const std::string out = testing::MakeTempDir("res-mem") + "/out";
  const auto r = testing::RunCommandSplit(Quantize("QUIP_FAKE_MEM_AVAILABLE=1000", out));
  testing::ExpectCleanError(r, {"stories260K", "not enough memory to quantize: needs about", "MB",
                                "but 1.0 kB is available (QUIP_FAKE_MEM_AVAILABLE)", "--nsamples"});
  EXPECT_FALSE(fs::exists(out));
}

TEST(Resources, ShortDiskFailsEarlyWithTheNumbers) {
  const std::string out = testing::MakeTempDir("res-disk") + "/out";
  const auto r = testing::RunCommandSplit(Quantize("QUIP_FAKE_DISK_AVAILABLE=64K", out));
  testing::ExpectCleanError(r, {out, "not enough disk space for the output: needs about",
                                "but 65.5 kB is free (QUIP_FAKE_DISK_AVAILABLE)"});
  EXPECT_FALSE(fs::exists(out));
}

TEST(Resources, MalformedOverrideIsAClearError) {
  const std::string out = testing::MakeTempDir("res-bad") + "/out";
  const auto r = testing::RunCommandSplit(Quantize("QUIP_FAKE_MEM_AVAILABLE=lots", out));
  testing::ExpectCleanError(r, {"QUIP_FAKE_MEM_AVAILABLE", "'lots' is not a number of bytes"});
}

TEST(Resources, EnoughOfBothRunsAndSkipSwitchWorks) {
  const std::string dir = testing::MakeTempDir("res-ok");
  const auto ok = testing::RunCommandSplit(Quantize("QUIP_FAKE_MEM_AVAILABLE=1G QUIP_FAKE_DISK_AVAILABLE=1G", dir + "/a"));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  const auto skip = testing::RunCommandSplit(Quantize("QUIP_FAKE_MEM_AVAILABLE=1 QUIP_SKIP_RESOURCE_CHECK=1", dir + "/b"));
  EXPECT_EQ(skip.exit_code, 0) << skip.err;
}

// Runs `command` in a subshell under `ulimit -v kb`, killed after 60 s (exit 124: a hang).
// OpenBLAS keeps its default threads (the test environment may pin it to one): its
// server threads each map a buffer as they start, which is what the limit must cover.
testing::SplitCommandResult UnderAddressLimit(int64_t kb, const std::string& command) {
  return testing::RunCommandSplit("bash -c " + ShellQuote("ulimit -v " + std::to_string(kb) +
                                                          " && exec env -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS "
                                                          "timeout 60 " + command));
}

std::string PplCommand(const std::string& model) {
  return ShellQuote(testing::QuipBinary()) + " ppl --threads 2 --max-windows 2 --model " +
         ShellQuote(testing::SourceDir() + "/models/" + model) + " --text " +
         ShellQuote(testing::SourceDir() + "/data/books/valid.txt");
}

// Before the fix ppl and quantize looped forever in OpenBLAS's buffer allocation under
// these limits (250 MB: the buffers; 100 MB: even OpenBLAS's own thread cannot map its
// buffer, and exit() would join that thread forever).
TEST(Resources, AddressSpaceLimitFailsFastInsteadOfHanging) {
  for (int64_t kb : {100000, 250000}) {
    SCOPED_TRACE(kb);
    const auto ppl = UnderAddressLimit(kb, PplCommand("books-llama-5m"));
    testing::ExpectCleanError(ppl, {"books-llama-5m", "address-space limit too small to run: needs about",
                                    "mapped now", "OpenBLAS buffers", "but ulimit -v (RLIMIT_AS) allows"});
    EXPECT_EQ(ppl.exit_code, 1) << "124 is a hang";
    const std::string out = testing::MakeTempDir("res-as") + "/out";
    const auto quantize = UnderAddressLimit(kb, Quantize("", out));
    testing::ExpectCleanError(quantize, {"stories260K", "address-space limit too small to quantize: needs about",
                                         "--nsamples"});
    EXPECT_EQ(quantize.exit_code, 1) << "124 is a hang";
    EXPECT_FALSE(fs::exists(out));
  }
}

// The limit the message asks for is enough: the run then finishes (no hang, no failure).
// The estimate counts the OpenBLAS buffers not yet mapped from the threads alive at the check,
// and on a loaded machine a run can count one more than the run before (seen once in CI: 413.8
// MB named, then 548.0 MB under that limit). So the test follows the advice as a user would,
// and the run must succeed within three rounds, each naming more than the limit it ran under.
TEST(Resources, TheNamedAddressSpaceSuffices) {
  int64_t limit_kb = 200000;
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(limit_kb);
    const auto run = UnderAddressLimit(limit_kb, PplCommand("stories260K"));
    if (run.exit_code == 0) {
      EXPECT_GT(round, 0) << "200 MB was expected to be refused";
      EXPECT_NE(run.out.find("ppl "), std::string::npos);
      return;
    }
    std::smatch m;
    ASSERT_TRUE(std::regex_search(run.err, m, std::regex("needs about ([0-9.]+) (MB|GB)"))) << run.err;
    const double needed_kb = std::stod(m[1]) * (m[2] == "GB" ? 1e9 : 1e6) / 1024;
    ASSERT_GT(needed_kb, double(limit_kb)) << "refused under a limit it says is enough: " << run.err;
    limit_kb = int64_t(needed_kb) + 1024;
  }
  ADD_FAILURE() << "still refused after following the named limit twice";
}

// A context whose window cannot fit is refused before any work, with the estimate:
// here 4M positions of a tiny model (logits of a whole window, KV cache, scores).
TEST(Resources, PplContextTooLargeForMemoryIsRefused) {
  const std::string dir = testing::MakeTempDir("res-ppl-ctx");
  LlamaConfig c = testing::TinyConfig();
  c.max_seq_len = 1 << 22;
  testing::WriteHfFolder(testing::RandomWeights(c, 5), dir);
  const auto r = testing::RunCommandSplit("QUIP_FAKE_MEM_AVAILABLE=1G " + ShellQuote(testing::QuipBinary()) +
                                          " ppl --threads 1 --ctx 4194304 --model " + ShellQuote(dir) +
                                          " --text unused.txt");
  testing::ExpectCleanError(r, {dir, "not enough memory to run: needs about", "KV cache", "logits 5.03 GB",
                                "but 1.07 GB is available", "--ctx"});
  EXPECT_EQ(r.exit_code, 1);
}

// Closed form of EstimateInference for a small workload (the allocations of Session).
TEST(Resources, InferenceEstimateMatchesTheSessionBuffers) {
  InferenceWorkload w;
  w.dim = 64, w.hidden_dim = 128, w.q_dim = 64, w.kv_dim = 32, w.n_layers = 3, w.vocab_size = 1000;
  w.max_seq_len = 2048, w.head_dim = 16, w.ctx = 1024, w.logits_rows = 1024, w.weights_bytes = 12345, w.threads = 2;
  const ResourceEstimate e = EstimateInference(w);
  const int64_t kv = 4 * 2 * 3 * 1024 * 32, logits = 4 * 1024 * 1000;
  const int64_t scratch = 4 * (512 * (3 * 64 + 2 * 64 + 2 * 32 + 2 * 128) + 2048 * 16 + 2 * 512 * 1024);
  EXPECT_EQ(e.memory_bytes, 12345 + kv + logits + scratch);
  EXPECT_EQ(e.mapped_bytes, 12345);
  EXPECT_EQ(e.disk_bytes, 0);
}

TEST(Resources, ReadsTheMachine) {
  std::string source;
  ::unsetenv("QUIP_FAKE_MEM_AVAILABLE");
  ::unsetenv("QUIP_FAKE_DISK_AVAILABLE");
  EXPECT_GT(AvailableMemoryBytes(&source), 0);
  EXPECT_EQ(source, "MemAvailable in /proc/meminfo");
  // A path that does not exist yet is measured on its nearest existing ancestor.
  EXPECT_GT(AvailableDiskBytes(testing::MakeTempDir("res-disk-real") + "/not/yet/there", &source), 0);
  EXPECT_NE(source.find("free space of "), std::string::npos) << source;
}

}  // namespace
}  // namespace quip
