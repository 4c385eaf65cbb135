// SampleCalibrationWindows. Independent reference: the slot arithmetic of
// pipeline/calibration.h in closed form. With tokens 0, 1, 2, ... each token is its own
// position, so a window is a slot iff it is the run [k·span, (k+1)·span) (span = length,
// or length - 1 after a BOS).
#include "pipeline/calibration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "core/error.h"

namespace quip {
namespace {
using ::testing::HasSubstr;

std::vector<int> Iota(int n) {
  std::vector<int> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// The slot index of each window, checking it is exactly one slot of `span` tokens.
std::vector<int> SlotsOf(const std::vector<std::vector<int>>& windows, int length, bool with_bos, int bos) {
  const int span = with_bos ? length - 1 : length;
  std::vector<int> slots;
  for (const auto& w : windows) {
    EXPECT_EQ(int(w.size()), length);
    if (int(w.size()) != length) continue;
    size_t first = 0;
    if (with_bos) {
      EXPECT_EQ(w[0], bos);
      first = 1;
    }
    const int start = w[first];
    EXPECT_EQ(start % span, 0) << "window does not start on a slot boundary";
    for (size_t i = first; i < w.size(); ++i) EXPECT_EQ(w[i], start + int(i - first)) << "not consecutive text";
    slots.push_back(start / span);
  }
  return slots;
}

TEST(SampleCalibrationWindows, CountLengthAndDistinctSlotsWithoutBos) {
  const auto windows = SampleCalibrationWindows(Iota(1000), 7, 64, 1, 42, "text.txt");
  ASSERT_EQ(windows.size(), 7u);
  const auto slots = SlotsOf(windows, 64, false, 1);
  EXPECT_EQ(std::set<int>(slots.begin(), slots.end()).size(), slots.size()) << "a slot was drawn twice";
  for (int s : slots) EXPECT_LT(s, 1000 / 64);
  // Non-overlapping: every token at most once over all windows.
  std::set<int> seen;
  for (const auto& w : windows)
    for (int t : w) EXPECT_TRUE(seen.insert(t).second) << "token " << t << " seen twice";
}

TEST(SampleCalibrationWindows, WithBosEachWindowIsBosThenLengthMinusOneTokens) {
  const int bos = -5;  // not a text token, so it cannot be confused with one
  const auto windows = SampleCalibrationWindows(Iota(1000), 9, 32, bos, 7, "text.txt", true);
  ASSERT_EQ(windows.size(), 9u);
  const auto slots = SlotsOf(windows, 32, true, bos);
  EXPECT_EQ(std::set<int>(slots.begin(), slots.end()).size(), slots.size());
  for (int s : slots) EXPECT_LT(s, 1000 / 31);
}

TEST(SampleCalibrationWindows, AllSlotsWhenCountEqualsSlots) {
  // 640 tokens = 10 slots of 64: asking for 10 must return each slot exactly once.
  const auto windows = SampleCalibrationWindows(Iota(640 + 63), 10, 64, 1, 3, "text.txt");
  auto slots = SlotsOf(windows, 64, false, 1);
  std::sort(slots.begin(), slots.end());
  EXPECT_EQ(slots, Iota(10));
}

TEST(SampleCalibrationWindows, DeterministicPerSeed) {
  const auto tokens = Iota(5000);
  const auto a = SampleCalibrationWindows(tokens, 8, 50, 1, 123, "t");
  EXPECT_EQ(a, SampleCalibrationWindows(tokens, 8, 50, 1, 123, "t"));
  EXPECT_NE(a, SampleCalibrationWindows(tokens, 8, 50, 1, 124, "t"));
  // The with-BOS draw is deterministic too.
  EXPECT_EQ(SampleCalibrationWindows(tokens, 8, 50, 1, 9, "t", true),
            SampleCalibrationWindows(tokens, 8, 50, 1, 9, "t", true));
}

TEST(SampleCalibrationWindows, TooShortTextNamesTheFileAndTheCounts) {
  try {
    SampleCalibrationWindows(Iota(100), 2, 64, 1, 0, "data/calib.txt");
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("data/calib.txt"));
    EXPECT_THAT(e.what(), HasSubstr("calibration text too short"));
    EXPECT_THAT(e.what(), HasSubstr("100 tokens give 1 windows of 64 tokens, 2 requested"));
  }
  // With BOS a slot is 63 text tokens: 126 tokens give exactly 2 windows, 125 give 1.
  EXPECT_EQ(SampleCalibrationWindows(Iota(126), 2, 64, 1, 0, "t", true).size(), 2u);
  EXPECT_THROW(SampleCalibrationWindows(Iota(125), 2, 64, 1, 0, "t", true), Error);
  EXPECT_THROW(SampleCalibrationWindows({}, 1, 64, 1, 0, "t"), Error);
}

TEST(SampleCalibrationWindows, RejectsBadCountAndLength) {
  EXPECT_THROW(SampleCalibrationWindows(Iota(100), 0, 8, 1, 0, "t"), Error);
  EXPECT_THROW(SampleCalibrationWindows(Iota(100), 1, 1, 1, 0, "t"), Error);
}

}  // namespace
}  // namespace quip
