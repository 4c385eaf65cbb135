// The output-folder rules (io/output_dir.h), in process: where quip may write, which existing
// folders it may replace, which leftovers it may delete. Each case runs in a scratch folder
// filled with sentinel files; the reference is the rule list in output_dir.h: a refused case
// must throw quip::Error naming OUT_DIR and the reason, and every sentinel must survive with
// its content, with nothing new left beside it.
#include "io/output_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "core/error.h"
#include "testing/scratch.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

using testing::Scratch;
std::string ReadText(const fs::path& path) { return testing::ReadFileText(path); }
void WriteText(const fs::path& path, const std::string& text) { testing::WriteFileText(path, text); }

// Writes a finished quip folder at `out` holding `files` (name -> content).
void WriteQuipFolder(const fs::path& out, const std::map<std::string, std::string>& files, bool force = false) {
  StagedOutputDir staged(out.string(), {}, force);
  for (const auto& [name, text] : files) WriteText(staged.path() / name, text);
  staged.Commit();
}

// Expects CheckOutputDir to refuse with an Error naming `out_dir` and containing `needles`.
void ExpectRefused(const std::string& out_dir, const std::vector<std::string>& inputs, bool force,
                   const std::vector<std::string>& needles) {
  SCOPED_TRACE("out_dir " + out_dir + (force ? " --force" : ""));
  try {
    CheckOutputDir(out_dir, inputs, force);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind(out_dir + ": ", 0), 0u) << e.what();
    for (const auto& n : needles) EXPECT_THAT(e.what(), HasSubstr(n));
  }
}

// Runs the body with the current directory changed, restoring it afterwards.
class InDirectory {
 public:
  explicit InDirectory(const fs::path& dir) : old_(fs::current_path()) { fs::current_path(dir); }
  ~InDirectory() { fs::current_path(old_); }

 private:
  fs::path old_;
};

class WithHome {
 public:
  explicit WithHome(const fs::path& home) {
    const char* old = std::getenv("HOME");
    had_ = old != nullptr;
    if (had_) old_ = old;
    ::setenv("HOME", home.c_str(), 1);
  }
  ~WithHome() { had_ ? ::setenv("HOME", old_.c_str(), 1) : ::unsetenv("HOME"); }

 private:
  bool had_;
  std::string old_;
};

TEST(OutputDir, CommitCreatesTheFolderWithAMarkerListingItsFiles) {
  Scratch s("output-dir-fresh");
  s.Sentinel("keep.txt");
  const fs::path out = s.root() / "a" / "b" / "out";  // missing parents are created
  WriteQuipFolder(out, {{"x.json", "{}"}, {"y.bin", "y"}});
  EXPECT_EQ(ReadText(out / "x.json"), "{}");
  const std::string marker = ReadText(out / kOutputMarker);
  EXPECT_EQ(marker.rfind("quip output folder, format 1\n", 0), 0u) << marker;
  EXPECT_THAT(marker, HasSubstr("\nx.json\ny.bin\n"));
  std::string why = "unset";
  EXPECT_TRUE(IsQuipOutputFolder(out, &why));
  EXPECT_EQ(why, "");
  std::vector<std::string> beside;
  for (const auto& e : fs::directory_iterator(out.parent_path())) beside.push_back(e.path().filename());
  EXPECT_THAT(beside, ::testing::ElementsAre("out")) << "no temp folder left";
}

TEST(OutputDir, DroppedWithoutCommitLeavesNothing) {
  Scratch s("output-dir-dropped");
  s.Sentinel("keep.txt");
  s.Snapshot();
  {
    StagedOutputDir staged((s.root() / "new" / "deeper" / "out").string(), {}, false);
    EXPECT_TRUE(fs::exists(staged.path() / kOutputMarker)) << "the marker is the temp folder's first file";
    WriteText(staged.path() / "half.bin", "half");
  }
  s.ExpectUntouched();  // temp folder and the parents it created are gone
  CheckOutputDir((s.root() / "p" / "q").string(), {}, false);  // the pre-work probe leaves nothing either
  s.ExpectUntouched();
}

TEST(OutputDir, ForceReplacesOnlyAFolderQuipWrote) {
  Scratch s("output-dir-force");
  const fs::path out = s.root() / "out";
  WriteQuipFolder(out, {{"old.bin", "old"}});
  ExpectRefused(out.string(), {}, false, {"already exists", "pass --force"});
  WriteQuipFolder(out, {{"new.bin", "new"}}, true);
  EXPECT_EQ(ReadText(out / "new.bin"), "new");
  EXPECT_FALSE(fs::exists(out / "old.bin")) << "replaced, not merged";

  // The same folder once a user has put a file of their own into it: kept.
  s.Sentinel("out/notes.txt");
  s.Snapshot();
  ExpectRefused(out.string(), {}, true, {"is not a folder quip wrote", "'notes.txt'", "kept"});
  ExpectRefused(out.string(), {}, false, {"already exists", "not a folder quip wrote", "even with --force"});
  s.ExpectUntouched();
}

TEST(OutputDir, ExistingThingsQuipDidNotWriteAreKept) {
  Scratch s("output-dir-kept");
  s.Sentinel("user/notes.txt");                                  // a user's folder
  s.Sentinel("file.txt");                                         // a regular file
  s.Sentinel("target/data.txt");
  fs::create_symlink(s.root() / "target", s.root() / "link");     // a link to a folder
  fs::create_symlink(s.root() / "nowhere", s.root() / "dangling");  // a dangling link
  fs::create_directories(s.root() / "empty");
  s.Sentinel("forged/model.bin");  // a wrong marker header
  WriteText(s.root() / "forged" / kOutputMarker, "quip output folder\nmodel.bin\n");
  WriteQuipFolder(s.root() / "withsub", {{"x.bin", "x"}});
  s.Sentinel("withsub/sub/x.bin");  // a subfolder is never quip's, even named like its files
  s.Snapshot();
  for (bool force : {false, true}) {
    ExpectRefused((s.root() / "user").string(), {}, force, {"not a folder quip wrote", "no quip marker", "kept"});
    ExpectRefused((s.root() / "file.txt").string(), {}, force, {"is an existing file, not a folder", "kept"});
    ExpectRefused((s.root() / "link").string(), {}, force, {"is a symbolic link to", "kept"});
    ExpectRefused((s.root() / "dangling").string(), {}, force, {"is a dangling symbolic link to", "nowhere"});
    ExpectRefused((s.root() / "empty").string(), {}, force, {"not a folder quip wrote"});
    ExpectRefused((s.root() / "forged").string(), {}, force, {"no quip marker"});
    ExpectRefused((s.root() / "withsub").string(), {}, force, {"'sub'"});
  }
  s.ExpectUntouched();
}

TEST(OutputDir, ProtectedPlacesAreRefusedAlsoThroughLinks) {
  Scratch s("output-dir-protected");
  s.Sentinel("work/here.txt");
  s.Sentinel("home/dotfile");
  s.Sentinel("model/config.json");
  s.Sentinel("calib.txt");
  fs::create_symlink(s.root() / "work", s.root() / "to-work");
  fs::create_symlink(s.root() / "model", s.root() / "to-model");
  fs::create_symlink(s.root() / "home", s.root() / "to-home");
  fs::create_symlink("/", s.root() / "to-root");
  // A copy of quip's own folder marker does not make these replaceable.
  WriteQuipFolder(s.root() / "model-as-output", {{"config.json", "{}"}});
  s.Snapshot();
  const std::string model = (s.root() / "model").string(), calib = (s.root() / "calib.txt").string();
  const std::vector<std::string> inputs{model, calib, ""};
  InDirectory cwd(s.root() / "work");
  WithHome home(s.root() / "home");
  for (bool force : {false, true}) {
    ExpectRefused(".", inputs, force, {"is the current folder"});
    ExpectRefused("./", inputs, force, {"is the current folder"});
    ExpectRefused((s.root() / "to-work").string(), inputs, force, {"is the current folder", "resolves to"});
    ExpectRefused("..", inputs, force, {"is a parent of the current folder"});
    ExpectRefused("/", inputs, force, {"is the root folder"});
    ExpectRefused((s.root() / "to-root").string(), inputs, force, {"is the root folder", "resolves to /"});
    ExpectRefused((s.root() / "home").string(), inputs, force, {"is your home folder"});
    ExpectRefused((s.root() / "to-home").string(), inputs, force, {"is your home folder"});
    ExpectRefused(model, inputs, force, {"is the input folder " + model});
    ExpectRefused((s.root() / "to-model").string(), inputs, force, {"is the input folder " + model});
    ExpectRefused(model + "/q", inputs, force, {"lies inside the input folder " + model});
    ExpectRefused((s.root() / "to-model" / "q").string(), inputs, force, {"lies inside the input folder"});
    ExpectRefused(calib, inputs, force, {"is the input file " + calib});
    ExpectRefused((s.root() / "model-as-output").string(), {(s.root() / "model-as-output" / "config.json").string()},
                  force, {"contains the input file"});
  }
  {
    InDirectory deeper(s.root() / "home");
    ExpectRefused((s.root() / "home" / "..").string(), inputs, true, {"is a parent of"});
  }
  s.ExpectUntouched();
  CheckOutputDir((s.root() / "work" / "out").string(), inputs, false);  // beside them is fine
  CheckOutputDir((s.root() / "home" / "out").string(), inputs, false);
  s.ExpectUntouched();
}

TEST(OutputDir, UnwritablePlacesFailBeforeAnyWork) {
  Scratch s("output-dir-unwritable");
  s.Sentinel("file.txt");
  fs::create_symlink(s.root() / "gone", s.root() / "dangling-parent");
  s.Snapshot();
  ExpectRefused((s.root() / "file.txt" / "out").string(), {}, false, {"file.txt is a file, not a folder"});
  ExpectRefused((s.root() / "file.txt" / "a" / "out").string(), {}, false, {"file.txt is a file, not a folder"});
  ExpectRefused((s.root() / "dangling-parent" / "out").string(), {}, false, {"dangling symbolic link"});
  // Neither permission bits nor `access()` stop root; these fail for every user: sysfs takes no
  // new folders, /proc has no such entry.
  ExpectRefused("/sys/quip-output-test", {}, false, {"cannot write into /sys"});
  ExpectRefused("/proc/quip-output-test/out", {}, false, {"cannot create folder /proc/quip-output-test"});
  s.ExpectUntouched();
  if (::geteuid() != 0) {  // a read-only parent stops everyone else (root may write there)
    fs::create_directories(s.root() / "ro");
    fs::permissions(s.root() / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    ExpectRefused((s.root() / "ro" / "out").string(), {}, false, {"cannot write into", "Permission denied"});
    fs::permissions(s.root() / "ro", fs::perms::owner_all);
  }
}

TEST(OutputDir, CommitRefusesWhatAppearedMeanwhile) {
  Scratch s("output-dir-meanwhile");
  const fs::path out = s.root() / "out";
  {
    StagedOutputDir staged(out.string(), {}, false);
    WriteText(staged.path() / "x.bin", "x");
    s.Sentinel("out/theirs.txt");  // created by someone else while quip worked
    try {
      staged.Commit();
      ADD_FAILURE() << "a folder that appeared meanwhile was replaced";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("kept"));
    }
  }
  WriteQuipFolder(s.root() / "mine", {{"x.bin", "x"}});
  {
    StagedOutputDir staged((s.root() / "mine").string(), {}, true);
    s.Sentinel("mine/notes.txt");  // a user adds a file while quip works
    EXPECT_THROW(staged.Commit(), Error);
  }
  EXPECT_EQ(ReadText(s.root() / "mine" / "x.bin"), "x");
  for (const auto& e : fs::directory_iterator(s.root()))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos) << e.path();
  s.Snapshot();
  s.ExpectUntouched();
}

TEST(OutputDir, StaleTemporariesNeedExactNameMarkerAndADeadProcess) {
  Scratch s("output-dir-stale");
  const fs::path out = s.root() / "out";
  WriteQuipFolder(s.root() / "finished", {{"a.bin", "a"}});
  const std::string marker = ReadText(s.root() / "finished" / kOutputMarker);
  // pid 2^22 + 1 is above Linux's pid_max limit, so no process has it.
  const std::string dead = "4194305";
  auto marked = [&](const std::string& name) {
    fs::create_directories(s.root() / name);
    WriteText(s.root() / name / kOutputMarker, marker);
    WriteText(s.root() / name / "partial.bin", "partial");
  };
  marked("out.tmp." + dead);                          // removed
  marked("out.old." + dead);                          // removed (renameat2 fallback leftover)
  marked("out.tmp." + std::to_string(::getpid()));    // this process: alive
  marked("out.tmp.1");                                // init: alive
  marked("out.tmp.0" + dead);                         // not a name quip makes
  marked("out.tmp." + dead + ".bak");
  marked("other.tmp." + dead);
  s.Sentinel("out.old.20241130/backup.txt");          // a user's backup: no marker
  s.Sentinel("out.tmp.4194306/notes.txt");            // dead pid, no marker
  WriteText(s.root() / ("out.tmp.4194307"), marker);  // a file, not a folder
  fs::create_symlink(s.root() / "finished", s.root() / "out.tmp.4194308");  // a link to a marked folder
  s.Sentinel("out.tmp.4194309/.quip-output");         // a marker with the wrong text
  fs::create_directories(s.root() / "out.tmp.4194310");  // dead pid, empty: killed around its marker
  const auto removed = RemoveStaleTemporaries(out.string());
  EXPECT_THAT(removed, ::testing::UnorderedElementsAre((s.root() / ("out.tmp." + dead)).string(),
                                                       (s.root() / ("out.old." + dead)).string(),
                                                       (s.root() / "out.tmp.4194310").string()));
  EXPECT_FALSE(fs::exists(s.root() / ("out.tmp." + dead)));
  for (const char* kept : {"out.tmp.1", "out.tmp.04194305", "out.tmp.4194305.bak", "other.tmp.4194305",
                           "out.tmp.4194307", "out.tmp.4194308", "finished/a.bin"})
    EXPECT_TRUE(fs::exists(s.root() / kept)) << kept;
  EXPECT_TRUE(fs::exists(s.root() / ("out.tmp." + std::to_string(::getpid())) / "partial.bin"));
  s.Snapshot();
  RemoveStaleTemporaries(out.string());  // nothing more goes
  s.ExpectUntouched();
}

}  // namespace
}  // namespace quip
