#include "pipeline/calibration.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "core/error.h"

namespace quip {

namespace {

void CheckCountAndLength(int count, int length, const std::string& text_name) {
  QUIP_CHECK_INPUT(count >= 1, text_name, "--nsamples must be at least 1, got {}", count);
  QUIP_CHECK_INPUT(length >= 2, text_name, "calibration --ctx must be at least 2, got {}", length);
}

// `count` distinct indices of [0, slots), in draw order. Partial Fisher-Yates with our
// own index draw: identical on every platform.
std::vector<int64_t> DrawDistinctSlots(int64_t slots, int count, uint64_t seed) {
  std::vector<int64_t> order(static_cast<size_t>(slots));
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < count; ++i) {
    const int64_t j = i + int64_t(rng() % uint64_t(slots - i));
    std::swap(order[i], order[j]);
  }
  order.resize(size_t(count));
  return order;
}

constexpr size_t kMaxWordScan = 256;  // a text without spaces is cut at a UTF-8 boundary instead

size_t Utf8BoundaryAtOrAfter(std::string_view text, size_t pos) {
  while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
  return pos;
}

// The start of the first word at or after `pos`: just after a single space, which the
// tokenizer's dummy prefix then stands in for (SentencePiece's chunked Encode cuts the
// same way, so the piece's tokens are the whole text's tokens).
size_t WordStartAtOrAfter(std::string_view text, size_t pos) {
  if (pos == 0) return 0;
  for (size_t i = pos; i < text.size() && i < pos + kMaxWordScan; ++i)
    if (text[i - 1] == ' ' && text[i] != ' ' && (i < 2 || text[i - 2] != ' ')) return i;
  return Utf8BoundaryAtOrAfter(text, pos);
}

// The end of the word that covers `pos` (the next space), so no word is cut.
size_t WordEndAtOrAfter(std::string_view text, size_t pos) {
  if (pos >= text.size()) return text.size();
  for (size_t i = pos; i < text.size() && i < pos + kMaxWordScan; ++i)
    if (text[i] == ' ') return i;
  return Utf8BoundaryAtOrAfter(text, pos);
}

}  // namespace

std::vector<std::vector<int>> SampleCalibrationWindows(const std::vector<int>& tokens, int count, int length,
                                                       int bos_id, uint64_t seed, const std::string& text_name,
                                                       bool with_bos) {
  CheckCountAndLength(count, length, text_name);
  const int64_t span = with_bos ? length - 1 : length;
  const int64_t slots = int64_t(tokens.size()) / span;
  QUIP_CHECK_INPUT(slots >= count, text_name,
                   "calibration text too short: {} tokens give {} windows of {} tokens, {} requested (--nsamples)",
                   tokens.size(), slots, length, count);
  const std::vector<int64_t> order = DrawDistinctSlots(slots, count, seed);
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

CalibrationSample SampleCalibrationWindowsFromText(std::string_view text, const Tokenizer& tokenizer, int count,
                                                   int length, int bos_id, uint64_t seed,
                                                   const std::string& text_name, bool with_bos) {
  CheckCountAndLength(count, length, text_name);
  CalibrationSample sample;
  sample.text_bytes = int64_t(text.size());
  const int64_t span = with_bos ? length - 1 : length;

  int64_t slot_bytes = 0;
  if (sample.text_bytes > kWholeTextBytes) {
    // Bytes per token, measured on pieces spread over the whole text.
    constexpr size_t kProbeBytes = 4096;
    int64_t probe_bytes = 0, probe_tokens = 0;
    for (int k = 0; k < kProbePieces; ++k) {
      const size_t begin = WordStartAtOrAfter(text, text.size() / kProbePieces * k);
      const size_t end = WordEndAtOrAfter(text, std::min(text.size(), begin + kProbeBytes));
      probe_bytes += int64_t(end - begin);
      probe_tokens += int64_t(tokenizer.Encode(text.substr(begin, end - begin)).size());
    }
    sample.tokenized_bytes += probe_bytes;
    const double bytes_per_token = double(probe_bytes) / double(std::max<int64_t>(probe_tokens, 1));
    slot_bytes = std::max<int64_t>(1, int64_t(std::ceil(1.5 * double(span) * bytes_per_token)));
  }
  if (slot_bytes == 0 || sample.text_bytes / slot_bytes < int64_t(kSlotsPerWindow) * count) {
    sample.whole_text = true;
    sample.tokenized_bytes += sample.text_bytes;
    sample.windows =
        SampleCalibrationWindows(tokenizer.Encode(text), count, length, bos_id, seed, text_name, with_bos);
    return sample;
  }

  const std::vector<int64_t> order = DrawDistinctSlots(sample.text_bytes / slot_bytes, count, seed);
  for (const int64_t slot : order) {
    size_t begin = WordStartAtOrAfter(text, size_t(slot * slot_bytes));
    size_t end = WordEndAtOrAfter(text, std::min(text.size(), begin + size_t(slot_bytes)));
    std::vector<int> ids;
    for (bool past_slot = false;; past_slot = true) {
      ids = tokenizer.Encode(text.substr(begin, end - begin));
      sample.tokenized_bytes += int64_t(end - begin);
      if (int64_t(ids.size()) >= span) {
        sample.windows_past_slot += past_slot;
        break;
      }
      // Too few tokens: read on (or, at the end of the text, back) by another slot's bytes.
      if (end < text.size()) {
        end = WordEndAtOrAfter(text, std::min(text.size(), end + size_t(slot_bytes)));
      } else {
        QUIP_CHECK_INPUT(begin > 0, text_name, "calibration text too short: {} tokens, {} per window requested",
                         ids.size(), span);
        begin = WordStartAtOrAfter(text, begin > size_t(slot_bytes) ? begin - size_t(slot_bytes) : 0);
      }
    }
    std::vector<int>& w = sample.windows.emplace_back();
    w.reserve(size_t(length));
    if (with_bos) w.push_back(bos_id);
    w.insert(w.end(), ids.begin(), ids.begin() + span);
  }
  return sample;
}

}  // namespace quip
