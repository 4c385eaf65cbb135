#include "core/progress.h"

#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>

namespace quip {

bool Progress::Enabled() { return ::isatty(STDERR_FILENO) == 1; }

Progress::Progress(std::string label)
    : label_(std::move(label)), enabled_(Enabled()), start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  if (drawn_) std::fputs("\n", stderr);
}

void Progress::Update(int done, int total) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && done < total && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  drawn_ = true;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double eta = done > 0 ? elapsed * (total - done) / done : 0.0;
  fmt::print(stderr, "\r{} {}/{}  {:.0f}s elapsed, ETA {:.0f}s   ", label_, done, total, elapsed, eta);
  std::fflush(stderr);
}

}  // namespace quip
