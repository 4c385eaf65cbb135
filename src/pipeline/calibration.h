// Calibration data: windows of real text the model is run on to measure the
// proxy Hessians H = E[x x^T] of every linear layer's inputs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

}  // namespace quip
