#include "pipeline/calibration.h"

#include <numeric>
#include <random>

#include "core/error.h"

namespace quip {

std::vector<std::vector<int>> SampleCalibrationWindows(const std::vector<int>& tokens, int count, int length,
                                                       int bos_id, uint64_t seed, const std::string& text_name,
                                                       bool with_bos) {
  QUIP_CHECK_INPUT(count >= 1, text_name, "--nsamples must be at least 1, got {}", count);
  QUIP_CHECK_INPUT(length >= 2, text_name, "calibration --ctx must be at least 2, got {}", length);
  const int64_t span = with_bos ? length - 1 : length;
  const int64_t slots = int64_t(tokens.size()) / span;
  QUIP_CHECK_INPUT(slots >= count, text_name,
                   "calibration text too short: {} tokens give {} windows of {} tokens, {} requested (--nsamples)",
                   tokens.size(), slots, length, count);
  // Partial Fisher-Yates with our own index draw: identical on every platform.
  std::vector<int64_t> order(static_cast<size_t>(slots));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < count; ++i) {
    const int64_t j = i + int64_t(rng() % uint64_t(slots - i));
    std::swap(order[i], order[j]);
  }
  std::vector<std::vector<int>> windows(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    auto& w = windows[i];
    w.reserve(size_t(length));
    if (with_bos) w.push_back(bos_id);
    const auto begin = tokens.begin() + order[i] * span;
    w.insert(w.end(), begin, begin + span);
  }
  return windows;
}

}  // namespace quip
