// Calibration data: windows of real text the model is run on to measure the
// proxy Hessians H = E[x x^T] of every linear layer's inputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quip {

// `count` windows of `length` tokens each: BOS followed by length-1 consecutive
// text tokens, the same framing as a perplexity window (or, with with_bos false,
// `length` text tokens). The text is cut into non-overlapping slots and `count`
// distinct slots are drawn with `seed`, so no token is seen twice. Throws quip::Error naming `text_name`
// when the text has fewer than `count` slots.
std::vector<std::vector<int>> SampleCalibrationWindows(const std::vector<int>& tokens, int count, int length,
                                                       int bos_id, uint64_t seed, const std::string& text_name,
                                                       bool with_bos = true);

}  // namespace quip
