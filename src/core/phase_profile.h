// Where a run's time goes (issue 19): named phases, each with its seconds and, where
// the shapes give it in closed form, its floating-point work, so a report can show the
// achieved GFLOP/s next to the machine's GEMM rate. One table per run, installed with
// ActiveProfile; ScopedPhase adds to it from any thread and costs nothing when no table
// is installed (unit tests, library users).
//
// Phases timed inside parallel jobs (one matrix per worker, single-threaded Eigen) count
// the CPU seconds of their thread, added up over threads: such a phase's seconds can
// exceed the run's wall time, its GFLOP/s is the rate of one core, and neither moves
// when other processes share the machine. Phases timed around a parallel region are
// wall seconds.
#pragma once

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace quip {

class PhaseProfile {
 public:
  struct Entry {
    double seconds = 0, flop = 0;
    int64_t calls = 0;
    bool thread_seconds = false;  // CPU seconds summed over worker threads (see above)
  };
  void Add(const std::string& phase, double seconds, double flop, bool thread_seconds);
  // CPU seconds a helper thread spent inside another thread's ScopedPhase of `phase`
  // (quant/row_blocks.h): the seconds only, not a call.
  void AddThreadSeconds(const std::string& phase, double seconds);
  // In the order the phases first ran.
  std::vector<std::pair<std::string, Entry>> Entries() const;
  // {phase: {"seconds", "gflop", "gflops", "calls", "summed_over_threads"}}; gflop and
  // gflops are null for phases whose work has no closed form (tokenizing, writing).
  nlohmann::json ToJson() const;
  // One aligned line per phase, for --verbose.
  std::string Table() const;

  // The table of the run in progress, or null.
  static PhaseProfile* Active();

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, Entry>> entries_;
};

// This thread's CPU seconds so far (what thread-clock phases measure).
double ThreadCpuSeconds();

// Makes `profile` the active table for this object's lifetime (one run at a time).
class ActiveProfile {
 public:
  explicit ActiveProfile(PhaseProfile* profile);
  ~ActiveProfile();
  ActiveProfile(const ActiveProfile&) = delete;
  ActiveProfile& operator=(const ActiveProfile&) = delete;

 private:
  PhaseProfile* previous_;
};

// Times its scope into the active table (if any) under `phase`, with `flop` operations.
class ScopedPhase {
 public:
  enum class Clock { kWall, kThread };
  explicit ScopedPhase(const char* phase, double flop = 0, Clock clock = Clock::kThread)
      : phase_(phase), flop_(flop), clock_(clock), profile_(PhaseProfile::Active()),
        start_(Now(clock)) {}
  ~ScopedPhase();
  ScopedPhase(const ScopedPhase&) = delete;
  ScopedPhase& operator=(const ScopedPhase&) = delete;

 private:
  const char* phase_;
  double flop_;
  Clock clock_;
  PhaseProfile* profile_;
  double start_;
  static double Now(Clock clock);  // seconds: steady clock, or this thread's CPU time
};

}  // namespace quip
