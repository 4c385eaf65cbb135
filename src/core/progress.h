// Progress of the steps of a run that can take seconds (loading, tokenizing, each
// block of quantization, perplexity windows), on stderr.
//
// On a terminal: one live line, "label i/N, 3 s elapsed, ETA 5 s", redrawn in place;
// a step that took at least `quiet_below_s` leaves its final line, a quicker one is erased.
// Anywhere else (a pipe, a log file): plain lines, never '\r' -- one whenever
// `line_interval_s` has passed since the last, and a final line for a step that took at
// least `quiet_below_s`. Quick steps (and every step of a failing run that fails fast)
// print nothing, so a clean error stays the only line on stderr.
// QUIP_PROGRESS in the environment overrides this: "off" prints nothing, "lines" prints
// plain lines even on a terminal, "all" plain lines for every step, however quick.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

namespace quip {

class Progress {
 public:
  enum class Mode { kAuto, kTerminal, kLines, kOff };  // kAuto: kTerminal when `out` is a terminal, else kLines
  struct Options {
    Mode mode = Mode::kAuto;
    std::FILE* out = stderr;
    double line_interval_s = 5.0;
    double quiet_below_s = 2.0;
  };
  // The defaults above with QUIP_PROGRESS applied; throws quip::Error on an unknown value.
  static Options FromEnvironment();

  explicit Progress(std::string label) : Progress(std::move(label), FromEnvironment()) {}
  Progress(std::string label, const Options& options);
  // Finish() unless called; during exception unwinding only ends a live line, so the
  // error message starts on a line of its own.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` of `total` units finished.
  void Update(int done, int total);
  // Ends the step: "label: summary (1.2 s)", or with counted work "label N/N (1.2 s)".
  void Finish(std::string_view summary = {});
  // Seconds since the step started.
  double Seconds() const;

 private:
  void Draw(const std::string& text, bool final_line);

  std::string label_;
  Options options_;
  bool terminal_, off_;
  bool drawn_ = false, finished_ = false;
  int done_ = 0, total_ = 0;
  std::chrono::steady_clock::time_point start_, last_output_;
};

// Runs `step` (returning a value) as one Progress step: `auto m = RunStep("loading x", [&] { return Load(x); });`
template <class Step>
auto RunStep(std::string label, Step&& step) {
  Progress progress(std::move(label));
  auto result = step();
  progress.Finish();
  return result;
}

}  // namespace quip
