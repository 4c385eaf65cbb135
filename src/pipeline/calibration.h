// Calibration data: windows of real text the model is run on to measure the
// proxy Hessians H = E[x x^T] of every linear layer's inputs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace quip {

// `count` windows of `length` consecutive text tokens each (with_bos: BOS followed
// by length-1 text tokens, the framing of a perplexity window). Without BOS is the
// default: the BOS position's outlier activations otherwise weigh on every Hessian
// (books-llama-5m 2-bit QuIP ppl ratio 1.172 without, 1.179 with). The text is cut into non-overlapping slots and `count`
// distinct slots are drawn with `seed`, so no token is seen twice. Throws quip::Error naming `text_name`
// when the text has fewer than `count` slots.
std::vector<std::vector<int>> SampleCalibrationWindows(const std::vector<int>& tokens, int count, int length,
                                                       int bos_id, uint64_t seed, const std::string& text_name,
                                                       bool with_bos = false);

struct CalibrationSample {
  std::vector<std::vector<int>> windows;
  int64_t text_bytes = 0;
  int64_t tokenized_bytes = 0;  // what the tokenizer was run on (probe included)
  bool whole_text = false;      // tokenized in full: SampleCalibrationWindows' token slots
  int windows_past_slot = 0;    // byte-range windows whose slot held too few tokens (read on past it)
};

// Such windows straight from the text, tokenizing only what they need. Tokenizing costs
// ~1 CPU s per MB, and a run needs count × length tokens: 128 windows of 256 tokens are
// ~130 KB of an 11.8 MB book collection.
// - Texts up to kWholeTextBytes, or too short for the sparse draw below to have at
//   least kSlotsPerWindow slots per window, are tokenized whole and cut into token slots
//   exactly as SampleCalibrationWindows does (same windows as before this existed).
// - Longer texts are cut into byte slots of ~1.5 × `length` tokens (bytes per token
//   measured on kProbePieces pieces spread over the text) and `count` distinct slots are
//   drawn with `seed` over the WHOLE text, as the token slots were; only the drawn
//   slots are tokenized, each from the first word that starts in it, and the window is
//   their first tokens. Windows thus start at word starts rather than anywhere, and a
//   slot whose text is unusually sparse in tokens reads on into the next slot
//   (counted in windows_past_slot). The windows differ from the whole-text draw's, the
//   quality does not suffer: books-llama-5m, 2 bits, 128 windows of 256 from books train,
//   ppl ratio on all of books valid, whole text -> byte slots: QuIP# seed 0 1.0770 ->
//   1.0695, seed 1 1.0731 -> 1.0742 (the seeds' spread); QuIP seed 0 1.1245 -> 1.1068.
//   240 KB of the text are tokenized instead of 11.8 MB (10.4 CPU s before).
CalibrationSample SampleCalibrationWindowsFromText(std::string_view text, const Tokenizer& tokenizer, int count,
                                                   int length, int bos_id, uint64_t seed,
                                                   const std::string& text_name, bool with_bos = false);

inline constexpr int64_t kWholeTextBytes = 1 << 20;
inline constexpr int kSlotsPerWindow = 4;
inline constexpr int kProbePieces = 16;

}  // namespace quip
