// `quip quantize --resume` (pipeline/block_checkpoint.h) through the real binary on the shipped
// books-llama-5m: a run killed after some blocks were checkpointed, continued with --resume,
// writes the folder an uninterrupted run writes (the reference), byte for byte up to the
// report's measurements; the checkpoint folder is gone afterwards; a checkpoint of other
// options is refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "testing/quantized_folder.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using testing::ShellQuote;

std::string Books(const std::string& out, const std::string& extra = "") {
  return "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 " + ShellQuote(testing::QuipBinary()) +
         " quantize --threads 1 --seed 2 --ctx 64 --nsamples 12 --model " + ShellQuote(testing::BooksModel()) +
         " --calib " + ShellQuote(testing::SourceDir() + "/data/books/train.txt") + " -o " + ShellQuote(out) + " " +
         extra;
}

// Starts `command` in the background and SIGKILLs it once `checkpoint` holds `blocks` blocks.
std::string KillAfterBlocks(const std::string& command, const std::string& checkpoint, int blocks) {
  return "(" + command + " >/dev/null 2>&1 & pid=$!; for i in $(seq 3000); do "
         "[ $(ls " + ShellQuote(checkpoint) + " 2>/dev/null | grep -c '^block-') -ge " + std::to_string(blocks) +
         " ] && break; sleep 0.01; done; kill -9 $pid; wait $pid; true)";
}

TEST(Resume, AKilledRunContinuesToTheUninterruptedFolder) {
  const std::string dir = testing::MakeTempDir("resume");
  const auto plain = testing::RunCommandSplit(Books(dir + "/plain"));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;

  const std::string out = dir + "/out", checkpoint = out + ".checkpoint";
  ASSERT_EQ(testing::RunCommandSplit(KillAfterBlocks(Books(out, "--resume"), checkpoint, 2)).exit_code, 0);
  ASSERT_FALSE(fs::exists(out)) << "the run finished before the kill";
  int saved = 0;
  for (const auto& e : fs::directory_iterator(checkpoint)) saved += e.path().filename().string().starts_with("block-");
  EXPECT_GE(saved, 2);
  EXPECT_LT(saved, 6) << "books-llama-5m has 6 blocks";

  // Other options cannot continue these blocks.
  const auto other = testing::RunCommandSplit(Books(out, "--resume --alpha 0.02"));
  testing::ExpectCleanError(other, {checkpoint, "another run"});

  const auto resumed = testing::RunCommandSplit(Books(out, "--resume"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  testing::ExpectSameFolder(dir + "/plain", out);
  EXPECT_FALSE(fs::exists(checkpoint)) << "removed once OUT_DIR is written";
}

// With --block-tune a finished block is tuned before it is checkpointed: its norms and report
// entry are kept beside its linears, and the resumed folder equals the uninterrupted one.
TEST(Resume, AKilledBlockTuneRunContinuesToTheUninterruptedFolder) {
  const std::string dir = testing::MakeTempDir("resume-block-tune");
  const std::string tune = "--block-tune --block-tune-steps 6 ";
  const auto plain = testing::RunCommandSplit(Books(dir + "/plain", tune));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  const std::string out = dir + "/out", checkpoint = out + ".checkpoint";
  ASSERT_EQ(testing::RunCommandSplit(KillAfterBlocks(Books(out, tune + "--resume"), checkpoint, 2)).exit_code, 0);
  ASSERT_FALSE(fs::exists(out)) << "the run finished before the kill";
  EXPECT_TRUE(fs::exists(checkpoint + "/block-00000.tune.json"));
  // Other tuning options cannot continue these blocks.
  testing::ExpectCleanError(testing::RunCommandSplit(Books(out, tune + "--resume --block-tune-lr 0.01")),
                            {checkpoint, "another run"});
  const auto resumed = testing::RunCommandSplit(Books(out, tune + "--resume"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  testing::ExpectSameFolder(dir + "/plain", out);
  EXPECT_FALSE(fs::exists(checkpoint)) << "removed once OUT_DIR is written";
}

}  // namespace
}  // namespace quip
