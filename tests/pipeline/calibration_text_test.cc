// SampleCalibrationWindowsFromText on the shipped texts and tokenizers. References:
// - small texts: SampleCalibrationWindows on the whole text's tokens (the windows must
//   be the very same);
// - long texts: libsentencepiece itself. Each window, decoded, must be a piece of the
//   text; the tokens of a wide stretch of text around it (4 KiB each side, cut at single
//   spaces, which the chunked encoding test in tests/text proves exact) must contain the
//   window as a contiguous run, so windows are real tokens of the whole text; the
//   positions must be distinct byte slots spread over the whole text, and only a few
//   percent of the text may be tokenized.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/error.h"
#include "pipeline/calibration.h"
#include "testing/tiny_model.h"
#include "text/text_file.h"
#include "text/tokenizer.h"

namespace quip {
namespace {

std::string Repo(const std::string& path) { return testing::SourceDir() + "/" + path; }

TEST(CalibrationFromText, SmallTextIsTokenizedWholeWithTheSameWindowsAsBefore) {
  const auto tokenizer = LoadLlama2cTokenizer(Repo("models/stories260K/tok512.bin"), 512);
  const std::string text = ReadTextFile(Repo("data/tinystories/tinystories-train-head.txt"));
  for (bool bos : {false, true}) {
    const CalibrationSample s = SampleCalibrationWindowsFromText(text, *tokenizer, 32, 128, 1, 5, "t", bos);
    EXPECT_TRUE(s.whole_text);
    EXPECT_EQ(s.tokenized_bytes, int64_t(text.size()));
    EXPECT_EQ(s.windows, SampleCalibrationWindows(tokenizer->Encode(text), 32, 128, 1, 5, "t", bos));
  }
  // Too short is reported as before, naming the text.
  try {
    SampleCalibrationWindowsFromText(text, *tokenizer, 100000, 128, 1, 0, "data/calib.txt");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("data/calib.txt"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("too short"), std::string::npos) << e.what();
  }
}

// [begin, end) of `needle` in `ids`, or -1.
int64_t FindRun(const std::vector<int>& ids, const std::vector<int>& needle) {
  const auto it = std::search(ids.begin(), ids.end(), needle.begin(), needle.end());
  return it == ids.end() ? -1 : int64_t(it - ids.begin());
}

// A stretch of `text` around [at, at + n), widened to single spaces as the exact chunked encoding cuts.
std::string_view Around(std::string_view text, size_t at, size_t n) {
  auto isolated_space = [&](size_t i) { return text[i] == ' ' && text[i - 1] != ' ' && text[i + 1] != ' '; };
  size_t begin = at > 4096 ? at - 4096 : 0;
  while (begin > 0 && !isolated_space(begin)) --begin;
  size_t end = std::min(text.size(), at + n + 4096);
  while (end + 1 < text.size() && !isolated_space(end)) ++end;
  if (begin > 0) ++begin;  // after the space: the dummy prefix stands in for it
  return text.substr(begin, end - begin);
}

TEST(CalibrationFromText, LongTextTokenizesOnlyDrawnSlotsSpreadOverTheWholeText) {
  const auto tokenizer = LoadSentencePieceTokenizer(Repo("models/books-llama-5m/tokenizer.model"));
  const std::string text = ReadTextFile(Repo("data/books/train.txt"));
  ASSERT_GT(int64_t(text.size()), kWholeTextBytes);
  const int count = 64, length = 256;
  for (bool bos : {false, true}) {
    SCOPED_TRACE(bos ? "with BOS" : "without BOS");
    const CalibrationSample s = SampleCalibrationWindowsFromText(text, *tokenizer, count, length, 1, 0, "train", bos);
    EXPECT_FALSE(s.whole_text);
    EXPECT_EQ(s.text_bytes, int64_t(text.size()));
    EXPECT_LT(s.tokenized_bytes, int64_t(text.size()) / 20) << "tokenized more than 5% of the text";
    ASSERT_EQ(int(s.windows.size()), count);
    std::set<size_t> offsets;
    int quarters[4] = {};
    for (const std::vector<int>& w : s.windows) {
      ASSERT_EQ(int(w.size()), length);
      if (bos) {
        EXPECT_EQ(w[0], 1);
      }
      const std::vector<int> body(w.begin() + (bos ? 1 : 0), w.end());
      const std::string decoded = tokenizer->Decode(body, 1);  // drops the leading dummy-prefix space
      const size_t at = text.find(decoded);
      ASSERT_NE(at, std::string::npos) << "window is not a piece of the text: " << decoded.substr(0, 80);
      EXPECT_GE(FindRun(tokenizer->Encode(Around(text, at, decoded.size())), body), 0)
          << "window tokens differ from the text's own tokens at byte " << at;
      offsets.insert(at);
      ++quarters[std::min<size_t>(3, at * 4 / text.size())];
    }
    EXPECT_EQ(int(offsets.size()), count) << "two windows start at the same place";
    for (int q = 0; q < 4; ++q) EXPECT_GE(quarters[q], count / 8) << "quarter " << q << " of the text is hardly drawn";
    EXPECT_LE(s.windows_past_slot, count / 16);
    EXPECT_EQ(s.windows, SampleCalibrationWindowsFromText(text, *tokenizer, count, length, 1, 0, "train", bos).windows);
    EXPECT_NE(s.windows, SampleCalibrationWindowsFromText(text, *tokenizer, count, length, 1, 1, "train", bos).windows);
  }
}

}  // namespace
}  // namespace quip
