// Atomic outputs (issue 6): `quip quantize` builds OUT_DIR in the sibling "OUT_DIR.tmp.<pid>"
// and renames it into place (RENAME_NOREPLACE, or RENAME_EXCHANGE with --force). Here the
// real binary is SIGKILLed at seeded random points, some while it is writing (the kill
// follows the first file in the temp folder after quip's marker); afterwards OUT_DIR must be
// absent or complete and loadable by `quip info`, an existing OUT_DIR must survive a killed
// --force run complete (old or new), and the next run must remove the dead run's temp folder.
//
// Kill points are counted in system calls of the traced binary (ptrace), not in time:
// the child stops at every system call, so "quip is writing" is checked while it
// is frozen and the trials hit the same points however loaded the machine is.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "io/output_dir.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using testing::ShellQuote;


std::vector<std::string> QuantizeArgv(const std::string& out, bool force) {
  std::vector<std::string> argv = {testing::QuipBinary(), "quantize", "--model", testing::StoriesModel(), "--calib", testing::TinyStoriesText(),
                                   "--nsamples", "8", "--ctx", "64", "--threads", "1", "-o", out};
  if (force) argv.push_back("--force");
  return argv;
}

// Starts argv traced: it stops at its exec and then wherever the parent's ptrace says.
pid_t SpawnTraced(const std::vector<std::string>& argv, const std::string& log) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::FILE* f = std::freopen(log.c_str(), "w", stdout);
    if (f != nullptr) ::dup2(::fileno(stdout), STDERR_FILENO);
    // LeakSanitizer's exit check attaches with ptrace itself, which a traced process refuses.
    const char* asan = std::getenv("ASAN_OPTIONS");
    ::setenv("ASAN_OPTIONS", (std::string(asan ? asan : "") + ":detect_leaks=0").c_str(), 1);
    ::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

// Entries beside `out` whose name starts with "<out>." (temp and old folders).
std::vector<std::string> Siblings(const std::string& out) {
  std::vector<std::string> found;
  const std::string prefix = fs::path(out).filename().string() + ".";
  for (const auto& e : fs::directory_iterator(fs::path(out).parent_path()))
    if (e.path().filename().string().rfind(prefix, 0) == 0) found.push_back(e.path().filename().string());
  return found;
}

// OUT_DIR is complete: every file present and `quip info` loads it.
void ExpectComplete(const std::string& out) {
  for (const char* name : {"model.safetensors", "config.json", "quant_report.json", "tok512.bin"})
    EXPECT_TRUE(fs::exists(fs::path(out) / name)) << out << " lacks " << name;
  const auto info = testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " info --model " + ShellQuote(out));
  EXPECT_EQ(info.exit_code, 0) << info.err;
}

// The run is writing once its temp folder holds more than the marker (the check before any
// work creates and removes one that holds only the marker).
bool Writing(const std::string& temp) {
  std::error_code ec;
  for (fs::directory_iterator it(temp, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().filename() != kOutputMarker) return true;
  return false;
}

struct Outcome {
  bool killed_while_writing = false;
  bool finished = false;
  int64_t syscalls = 0;  // system calls entered before the kill or the exit
};

// Runs quantize into `out`, stopping it at each system call, and SIGKILLs it when it
// enters system call number `kill_at` or, with `after_temp`, number `kill_at` counted
// from the first stop at which its temp folder exists (kill_at < 0: never).
Outcome RunAndKill(const std::string& out, bool force, int64_t kill_at, bool after_temp) {
  const pid_t pid = SpawnTraced(QuantizeArgv(out, force), out + ".log");
  const std::string temp = out + ".tmp." + std::to_string(pid);
  Outcome o;
  int status = 0;
  ::waitpid(pid, &status, 0);  // stopped at exec
  ::ptrace(PTRACE_SETOPTIONS, pid, nullptr, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL);
  int64_t counted = 0;
  int signal = 0;
  while (true) {
    ::ptrace(PTRACE_SYSCALL, pid, nullptr, reinterpret_cast<void*>(intptr_t(signal)));
    ::waitpid(pid, &status, 0);
    if (WIFEXITED(status) || WIFSIGNALED(status)) break;
    signal = WSTOPSIG(status) == (SIGTRAP | 0x80) ? 0 : WSTOPSIG(status);  // pass real signals on
    if (signal != 0) continue;
    ++o.syscalls;  // entry and exit stops alternate; both count, the process is frozen at either
    if (after_temp && !o.killed_while_writing) {
      o.killed_while_writing = Writing(temp);  // stays true from here: kill within the write phase
      if (!o.killed_while_writing) continue;
    }
    if (kill_at >= 0 && counted++ == kill_at) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      break;
    }
  }
  o.finished = WIFEXITED(status);
  if (o.finished) {
    o.killed_while_writing = false;
    EXPECT_EQ(WEXITSTATUS(status), 0) << "quantize failed before the kill; see " << out << ".log";
  }
  return o;
}

TEST(AtomicOutput, KilledQuantizeLeavesNoHalfWrittenFolder) {
  const std::string dir = testing::MakeTempDir("atomic-kill");
  // A reference run: its system calls bound the random kill points.
  const Outcome ref = RunAndKill(dir + "/ref", false, -1, false);
  ASSERT_TRUE(ref.finished);
  const int64_t full = ref.syscalls;

  std::mt19937_64 rng(6);
  int during_write = 0, finished = 0;
  for (int trial = 0; trial < 10; ++trial) {
    const bool after_temp = trial % 2 == 1;
    const bool force = trial % 4 == 3;  // replace an existing complete folder
    const std::string out = dir + "/out" + std::to_string(trial);
    SCOPED_TRACE("trial " + std::to_string(trial) + (after_temp ? ", killed while writing" : ", random kill") +
                 (force ? ", --force over an existing folder" : ""));
    if (force) fs::copy(dir + "/ref", out, fs::copy_options::recursive);
    const int64_t kill_at = after_temp ? int64_t(rng() % 8) : int64_t(rng() % full);
    const Outcome o = RunAndKill(out, force, kill_at, after_temp);
    during_write += o.killed_while_writing && !o.finished;
    finished += o.finished;

    if (force) {
      ASSERT_TRUE(fs::exists(out)) << "a killed --force run lost the existing folder";
      ExpectComplete(out);  // the old folder or the new one, never a mix
    } else if (fs::exists(out)) {
      ExpectComplete(out);
    }
    for (const auto& s : Siblings(out))
      EXPECT_TRUE(s.rfind(fs::path(out).filename().string() + ".tmp.", 0) == 0 || s.ends_with(".log")) << s;

    // The next run cleans up what the killed one left and produces a complete folder.
    const auto again = testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " quantize --model " +
                                                ShellQuote(testing::StoriesModel()) + " --calib " + ShellQuote(testing::TinyStoriesText()) +
                                                " --nsamples 8 --ctx 64 --threads 1 --force -o " + ShellQuote(out));
    ASSERT_EQ(again.exit_code, 0) << again.err;
    ExpectComplete(out);
    for (const auto& s : Siblings(out)) EXPECT_TRUE(s.ends_with(".log")) << "left behind: " << s;
  }
  std::printf("kill trials: %d killed while writing, %d finished before the kill (reference run: %lld system call stops)\n",
              during_write, finished, (long long)full);
  EXPECT_GT(during_write, 0) << "no trial hit the write phase";
}

TEST(AtomicOutput, StaleTempFolderOfADeadRunIsRemovedAndALiveOneKept) {
  const std::string dir = testing::MakeTempDir("atomic-stale");
  const std::string out = dir + "/out";
  const auto first = testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " quantize --model " +
                                              ShellQuote(testing::StoriesModel()) + " --calib " + ShellQuote(testing::TinyStoriesText()) +
                                              " --nsamples 8 --ctx 64 --threads 1 -o " + ShellQuote(dir + "/first"));
  ASSERT_EQ(first.exit_code, 0) << first.err;
  // pid 2^22 + 1 is above Linux's pid_max limit, so no process has it. A killed run's temp
  // folder carries quip's marker (its first file); copy a real one.
  const std::string dead = out + ".tmp.4194305";
  const std::string live = out + ".tmp." + std::to_string(::getpid());  // this test process
  const std::string unmarked = out + ".tmp.4194306";                    // dead pid, but not quip's
  const std::string backup = out + ".old.20241130";                     // a user's backup
  for (const std::string& d : {dead, live}) {
    fs::create_directories(d + "/partial");
    fs::copy_file(dir + "/first/" + kOutputMarker, d + "/" + kOutputMarker);
  }
  for (const std::string& d : {unmarked, backup}) {
    fs::create_directories(d);
    testing::RunCommandSplit("echo precious > " + ShellQuote(d + "/mine.txt"));
  }
  const auto r = testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " quantize --model " +
                                          ShellQuote(testing::StoriesModel()) + " --calib " + ShellQuote(testing::TinyStoriesText()) +
                                          " --nsamples 8 --ctx 64 --threads 1 -o " + ShellQuote(out));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("removed " + dead), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live + "/partial")) << "a folder of a running process must not be touched";
  EXPECT_TRUE(fs::exists(unmarked + "/mine.txt")) << "a folder without quip's marker must not be touched";
  EXPECT_TRUE(fs::exists(backup + "/mine.txt")) << "a user's backup named like a leftover must not be touched";
  ExpectComplete(out);
}

TEST(AtomicOutput, ExistingOutputIsNeverReplacedWithoutForce) {
  const std::string dir = testing::MakeTempDir("atomic-noforce");
  const std::string out = dir + "/out";
  fs::create_directories(out);
  testing::RunCommandSplit("echo precious > " + ShellQuote(out + "/mine.txt"));
  const auto r = testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " quantize --model " +
                                          ShellQuote(testing::StoriesModel()) + " --calib " + ShellQuote(testing::TinyStoriesText()) +
                                          " --nsamples 8 --ctx 64 --threads 1 -o " + ShellQuote(out));
  testing::ExpectCleanError(r, {out, "already exists", "--force"});
  EXPECT_TRUE(fs::exists(out + "/mine.txt"));
  EXPECT_TRUE(Siblings(out).empty());
}

}  // namespace
}  // namespace quip
