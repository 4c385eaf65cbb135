// Llama-shaped models with random weights, built in memory for the kernel benchmark:
// large enough to be memory-bound, no download, no calibration.
#pragma once

#include <cstdint>

#include "model/model.h"
#include "quant/quantized_matrix.h"

namespace quip::bench {

// fp32, weights uniform in ±0.02·√3 (std 0.02), RMSNorm weights 1.
Model MakeRandomModel(const LlamaConfig& config, uint64_t seed);

// How the synthetic model's linears are quantized: QuIP's scalar grid with Kronecker or
// Hadamard incoherence and D̃, QuIP#'s E8P codebook or QTIP's trellis (randomized
// Hadamard, no D̃).
struct SyntheticFormat {
  int bits = 2;
  RotationKind rotation = RotationKind::kKron;
  Codebook codebook = Codebook::kScalar;
  trellis::Code code = trellis::Code::k1Mad;  // trellis only
};

// Every block linear of `src` (fp32) quantized in `format` with nearest rounding
// against an identity Hessian, so no calibration data is needed; embedding, norms and
// lm_head stay fp32 (as quip quantize leaves them). The trellis gets random bitstreams
// instead (every bitstream is a valid tail-biting path, and decoding does the same work
// whatever the bits; a Viterbi search of a 7B-shaped layer would take core-minutes). Only the first `distinct_layers`
// blocks go through QuantizeMatrix; later blocks get their own copy of those codes (a
// separate buffer, so decoding still streams every layer's bytes from memory) to keep
// set-up short.
Model QuantizeNearIncoherent(const Model& src, const SyntheticFormat& format, int distinct_layers, uint64_t seed);

}  // namespace quip::bench
