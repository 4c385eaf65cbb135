// quip deletes only what it wrote itself (issue 13, part 1), through the real binary: each
// case of the issue in a scratch folder full of sentinel files. A refused case must exit 1
// with one `quip: error:` line naming OUT_DIR and why, and every sentinel must survive
// unchanged with nothing added beside it. The reference is the rule list in
// src/io/output_dir.h; the cases "cannot be written" use a --model that cannot be loaded, so
// an error about OUT_DIR (not the model) proves the check ran before any work.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "io/output_dir.h"
#include "testing/scratch.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using testing::ReadFileText;
using testing::Scratch;
using testing::ShellQuote;


// `quip quantize` of `model` into `out`, run from `cwd` (when given) with `env` prefixed.
testing::SplitCommandResult Quantize(const std::string& model, const std::string& out, const std::string& flags = "",
                                     const std::string& cwd = "", const std::string& env = "") {
  std::string command = cwd.empty() ? "" : "cd " + ShellQuote(cwd) + " && ";
  command += env + " " + ShellQuote(testing::QuipBinary()) + " quantize --model " + ShellQuote(model) + " --calib " +
             ShellQuote(testing::TinyStoriesText()) + " --nsamples 8 --ctx 64 --threads 1 -o " + ShellQuote(out) + " " + flags;
  return testing::RunCommandSplit(command);
}

testing::SplitCommandResult Ablate(const std::string& model, const std::string& out, const std::string& flags = "") {
  return testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " ablate --model " + ShellQuote(model) +
                                  " --calib " + ShellQuote(testing::TinyStoriesText()) + " --eval " + ShellQuote(testing::TinyStoriesText()) +
                                  " --bits 2 --only QuIP --nsamples 4 --ctx 32 --eval-windows 1 --threads 1 --out " +
                                  ShellQuote(out) + " " + flags);
}

void ExpectRefused(const testing::SplitCommandResult& r, const std::vector<std::string>& needles) {
  EXPECT_EQ(r.exit_code, 1) << r.err;
  testing::ExpectCleanError(r, needles);
}

// A copy of stories260K with a sentinel of the user's beside its files.
std::string CopyModel(Scratch& s, const std::string& name) {
  fs::copy(testing::StoriesModel(), s / name, fs::copy_options::recursive);
  s.Sentinel(name + "/README.user");
  return s / name;
}

void ExpectSameFiles(const std::string& copy, const std::string& original) {
  for (const auto& e : fs::directory_iterator(original))
    EXPECT_EQ(ReadFileText(fs::path(copy) / e.path().filename()), ReadFileText(e.path()))
        << e.path().filename() << " of the input model changed";
}

TEST(OutputSafety, CurrentFolderAndItsParentsAreRefused) {
  Scratch s("safety-cwd");
  s.Sentinel("work/notes.txt");
  s.Sentinel("work/sub/more.txt");
  s.Sentinel("top.txt");
  fs::create_symlink(s / "work", s / "link-to-work");
  s.Snapshot();
  for (const char* force : {"", "--force"}) {
    ExpectRefused(Quantize(testing::StoriesModel(), ".", force, s / "work"), {".: is the current folder"});
    ExpectRefused(Quantize(testing::StoriesModel(), "./", force, s / "work"), {"is the current folder"});
    ExpectRefused(Quantize(testing::StoriesModel(), "..", force, s / "work/sub"), {"..: is a parent of the current folder"});
    ExpectRefused(Quantize(testing::StoriesModel(), "../..", force, s / "work/sub"), {"is a parent of the current folder"});
    ExpectRefused(Quantize(testing::StoriesModel(), s / "link-to-work", force, s / "work"), {"is the current folder", "resolves to"});
  }
  s.ExpectUntouched();
}

TEST(OutputSafety, RootAndHomeAreRefused) {
  Scratch s("safety-home");
  s.Sentinel("home/.bashrc");
  fs::create_symlink(s / "home", s / "link-to-home");
  fs::create_symlink("/", s / "link-to-root");
  s.Snapshot();
  const std::string home = "HOME=" + ShellQuote(s / "home");
  for (const char* force : {"", "--force"}) {
    ExpectRefused(Quantize(testing::StoriesModel(), s / "home", force, s.root().string(), home), {"is your home folder"});
    ExpectRefused(Quantize(testing::StoriesModel(), s / "link-to-home", force, s.root().string(), home), {"is your home folder"});
    ExpectRefused(Quantize(testing::StoriesModel(), s / "home/..", force, s / "home", home), {"is a parent of"});
    ExpectRefused(Quantize(testing::StoriesModel(), "/", force, s.root().string(), home), {"/: is the root folder"});
    ExpectRefused(Quantize(testing::StoriesModel(), s / "link-to-root", force, s.root().string(), home), {"is the root folder"});
  }
  s.ExpectUntouched();
}

TEST(OutputSafety, InputModelFolderIsRefused) {
  Scratch s("safety-model");
  const std::string model = CopyModel(s, "model");
  fs::create_symlink(s / "model", s / "link-to-model");
  s.Sentinel("beside.txt");
  s.Snapshot();
  for (const char* force : {"", "--force"}) {
    ExpectRefused(Quantize(model, model, force), {model + ": is the input folder " + model});
    ExpectRefused(Quantize(model, model + "/", force), {"is the input folder"});
    ExpectRefused(Quantize(model, model + "/quantized", force), {"lies inside the input folder " + model});
    ExpectRefused(Quantize(model, s.root().string(), force), {"contains the input folder " + model});
    ExpectRefused(Quantize(model, s / "link-to-model", force), {"is the input folder", "resolves to"});
    ExpectRefused(Quantize(s / "link-to-model", model, force), {"is the input folder"});
    ExpectRefused(Quantize(model, testing::TinyStoriesText(), force), {"is the input file " + testing::TinyStoriesText()});
  }
  s.ExpectUntouched();
  ExpectSameFiles(model, testing::StoriesModel());
}

TEST(OutputSafety, ForceReplacesOnlyAFolderQuipWrote) {
  Scratch s("safety-force");
  s.Sentinel("notes.txt");
  s.Sentinel("user-folder/notes.txt");
  ASSERT_EQ(Quantize(testing::StoriesModel(), s / "ours").exit_code, 0);
  s.Sentinel("ours-with-notes/keep.txt");
  for (const auto& e : fs::directory_iterator(s / "ours"))
    fs::copy_file(e.path(), s.root() / "ours-with-notes" / e.path().filename());
  s.Snapshot();
  ExpectRefused(Quantize(testing::StoriesModel(), s / "notes.txt", "--force"), {"is an existing file, not a folder", "kept"});
  ExpectRefused(Quantize(testing::StoriesModel(), s / "user-folder", "--force"),
                {"is not a folder quip wrote", "no quip marker file .quip-output", "kept"});
  ExpectRefused(Quantize(testing::StoriesModel(), s / "user-folder"), {"already exists", "even with --force"});
  ExpectRefused(Quantize(testing::StoriesModel(), s / "ours-with-notes", "--force"), {"'keep.txt', which quip did not write"});
  ExpectRefused(Quantize(testing::StoriesModel(), s / "ours"), {"already exists (pass --force to replace it)"});
  s.ExpectUntouched();

  const auto replaced = Quantize(testing::StoriesModel(), s / "ours", "--force --bits 3");
  ASSERT_EQ(replaced.exit_code, 0) << replaced.err;
  EXPECT_NE(ReadFileText(s / "ours/config.json").find("\"bits\": \"3\""), std::string::npos);
}

TEST(OutputSafety, OnlyQuipsOwnLeftoversOfDeadRunsAreRemoved) {
  Scratch s("safety-stale");
  ASSERT_EQ(Quantize(testing::StoriesModel(), s / "first").exit_code, 0);
  s.Sentinel("out.old.20241130/backup.txt");  // a user's backup, "pid" 20241130 is not running
  s.Sentinel("out.tmp.4194306/draft.txt");    // dead pid, no marker
  s.Sentinel("out.tmp.4194305x/draft.txt");   // not quip's naming
  fs::create_directories(s / "out.tmp.4194305");  // a killed run's temp folder: quip's marker
  fs::copy_file(s / "first/.quip-output", s / "out.tmp.4194305/.quip-output");
  const auto r = Quantize(testing::StoriesModel(), s / "out");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("removed " + (s / "out.tmp.4194305")), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(s / "out.tmp.4194305"));
  s.Snapshot();  // (includes the new out/ and first/)
  s.ExpectUntouched();  // every sentinel above survived the run
}

TEST(OutputSafety, UnwritablePlacesFailBeforeAnyWork) {
  Scratch s("safety-unwritable");
  fs::create_directories(s / "not-a-model");  // loading it would fail: an error about OUT_DIR proves the order
  const std::string broken = s / "not-a-model";
  s.Sentinel("file.txt");
  fs::create_symlink(s / "gone", s / "dangling");
  s.Snapshot();
  ExpectRefused(Quantize(broken, s / "dangling"), {"dangling symbolic link"});
  ExpectRefused(Quantize(broken, s / "dangling", "--force"), {"dangling symbolic link"});
  ExpectRefused(Quantize(broken, s / "dangling/out"), {"cannot create the output folder", "dangling symbolic link"});
  ExpectRefused(Quantize(broken, s / "file.txt/out"), {"file.txt is a file, not a folder"});
  ExpectRefused(Quantize(broken, s / "file.txt/a/b"), {"file.txt is a file, not a folder"});
  // Read-only for root as well (permission bits do not stop root): sysfs takes no new folders.
  ExpectRefused(Quantize(broken, "/sys/quip-output-test"), {"/sys/quip-output-test: cannot write into /sys"});
  ExpectRefused(Quantize(broken, s / "new/deeper/out"), {"not-a-model"});  // the model's error: checks passed
  s.ExpectUntouched();  // ... and the parents created for the check are gone again
  if (::geteuid() != 0) {
    fs::create_directories(s / "ro");
    fs::permissions(s / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    ExpectRefused(Quantize(broken, s / "ro/out"), {"cannot write into", "Permission denied"});
    fs::permissions(s / "ro", fs::perms::owner_all);
  }
}

TEST(OutputSafety, MissingParentsAreCreated) {
  Scratch s("safety-parents");
  const auto r = Quantize(testing::StoriesModel(), s / "a/b/c");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(IsQuipOutputFolder(s / "a/b/c", nullptr));
}

TEST(OutputSafety, AblateFollowsTheSameRules) {
  Scratch s("safety-ablate");
  const std::string model = CopyModel(s, "model");
  s.Sentinel("results/keep.md");
  fs::create_directories(s / "not-a-model");
  fs::create_symlink(s / "gone", s / "dangling");
  s.Snapshot();
  for (const char* force : {"", "--force"}) {
    ExpectRefused(Ablate(model, model, force), {"is the input folder"});
    ExpectRefused(Ablate(model, model + "/ablate", force), {"lies inside the input folder"});
    ExpectRefused(Ablate(model, s / "results", force), {"not a folder quip wrote"});
    ExpectRefused(Ablate(s / "not-a-model", s / "dangling", force), {"dangling symbolic link"});
  }
  s.ExpectUntouched();
  ExpectSameFiles(model, testing::StoriesModel());

  const auto fresh = Ablate(model, s / "ablate");
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_TRUE(IsQuipOutputFolder(s / "ablate", nullptr));
  EXPECT_TRUE(fs::exists(s / "ablate/ablate.json") && fs::exists(s / "ablate/ablate.md"));
  ExpectRefused(Ablate(model, s / "ablate"), {"already exists (pass --force to replace it)"});
  EXPECT_EQ(Ablate(model, s / "ablate", "--force").exit_code, 0);
}

}  // namespace
}  // namespace quip
