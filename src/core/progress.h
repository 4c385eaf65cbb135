// "label i/N, ETA" on one self-overwriting stderr line, only when stderr is a
// terminal: long runs show where they are, pipes and logs stay quiet.
#pragma once

#include <chrono>
#include <string>

namespace quip {

class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();  // ends the line if anything was drawn
  void Update(int done, int total);
  static bool Enabled();

 private:
  std::string label_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace quip
