#include "core/progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>

#include "core/error.h"

namespace quip {

namespace {
using Clock = std::chrono::steady_clock;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);  // a live line faster than this only flickers
}  // namespace

Progress::Options Progress::FromEnvironment() {
  Options options;
  const char* env = std::getenv("QUIP_PROGRESS");
  const std::string value = env ? env : "";
  if (value == "off") {
    options.mode = Mode::kOff;
  } else if (value == "lines") {
    options.mode = Mode::kLines;
  } else if (value == "all") {
    options.mode = Mode::kLines;
    options.quiet_below_s = 0;
  } else {
    QUIP_CHECK_INPUT(value.empty(), "QUIP_PROGRESS", "unknown value '{}' (expected off, lines or all)", value);
  }
  return options;
}

Progress::Progress(std::string label, const Options& options)
    : label_(std::move(label)),
      options_(options),
      terminal_(options.mode == Mode::kTerminal ||
                (options.mode == Mode::kAuto && ::isatty(::fileno(options.out)) == 1)),
      off_(options.mode == Mode::kOff),
      start_(Clock::now()),
      last_output_(start_) {
  if (terminal_) Draw(label_ + " ...", false);  // something shows while a single slow step runs
}

Progress::~Progress() {
  if (finished_) return;
  if (std::uncaught_exceptions() > 0) {
    if (drawn_) std::fputs("\n", options_.out);  // keep where it stopped; the error goes below
    return;
  }
  Finish();
}

double Progress::Seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }

void Progress::Update(int done, int total) {
  done_ = done, total_ = total;
  if (off_) return;
  const auto now = Clock::now();
  if (terminal_ ? now - last_output_ < kRedrawInterval && done < total
                : now - last_output_ < std::chrono::duration<double>(options_.line_interval_s))
    return;
  const double elapsed = Seconds();
  const double eta = done > 0 ? elapsed * (total - done) / done : 0.0;
  std::string text = fmt::format("{} {}/{}, {:.0f} s elapsed", label_, done, total, elapsed);
  if (done > 0 && done < total) text += fmt::format(", ETA {:.0f} s", eta);
  Draw(text, false);
}

void Progress::Finish(std::string_view summary) {
  if (finished_) return;
  finished_ = true;
  const double elapsed = Seconds();
  if (off_) return;
  if (elapsed < options_.quiet_below_s) {
    if (drawn_) fmt::print(options_.out, "\r\033[K");  // only ever drawn on a terminal
    std::fflush(options_.out);
    return;
  }
  std::string text = label_;
  if (!summary.empty())
    text += fmt::format(": {}", summary);
  else if (total_ > 0)
    text += fmt::format(" {}/{}", done_, total_);
  Draw(fmt::format("{} ({:.1f} s)", text, elapsed), true);
}

void Progress::Draw(const std::string& text, bool final_line) {
  last_output_ = Clock::now();
  if (terminal_) {
    // "\033[K" clears what a longer earlier line left to the right.
    fmt::print(options_.out, "\r{}\033[K{}", text, final_line ? "\n" : "");
    drawn_ = !final_line;
  } else {
    fmt::print(options_.out, "{}\n", text);
  }
  std::fflush(options_.out);
}

}  // namespace quip
