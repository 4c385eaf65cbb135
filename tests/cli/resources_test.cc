// Resource limits (issue 6): `quip quantize` estimates memory and disk before the long
// part of the run and fails at once, with the numbers, when the machine has less. The
// available amounts are faked with QUIP_FAKE_MEM_AVAILABLE / QUIP_FAKE_DISK_AVAILABLE.
#include <gtest/gtest.h>

#include <filesystem>
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

TEST(Resources, EstimateOfALlama7BIsPlausible) {
  QuantizeWorkload w;  // Llama-2-7B, 128 windows of 2048 tokens, 2 bits, 2 threads
  w.dim = 4096, w.hidden_dim = 11008, w.q_dim = 4096, w.kv_dim = 4096, w.n_layers = 32, w.n_heads = 32;
  w.vocab_size = 32000, w.max_seq_len = 4096, w.head_dim = 128, w.parameters = 6738415616;
  w.windows = 128, w.ctx = 2048, w.bits = 2, w.threads = 2, w.tokenizer_bytes = 499723;
  const ResourceEstimate e = EstimateQuantize(w);
  // fp32 weights alone are 27 GB (+1.7 GB of codes); activations 128*2048*4096*4 = 4.3 GB;
  // the down_proj Hessian (11008^2 doubles, ~1 GB) is held about six times while rounding.
  EXPECT_GT(e.memory_bytes, 40e9);
  EXPECT_LT(e.memory_bytes, 55e9);
  // 6.5e9 linear weights at 2 bits = 1.6 GB, plus fp32 embeddings and head 1.05 GB.
  EXPECT_GT(e.disk_bytes, 2.6e9);
  EXPECT_LT(e.disk_bytes, 2.9e9);
  EXPECT_NE(e.memory_breakdown.find("weights 28."), std::string::npos) << e.memory_breakdown;
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
