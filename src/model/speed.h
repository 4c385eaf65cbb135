// Inference speed of a model on this machine, as `quip bench` and bench/kernel_bench
// report it: prompt evaluation (one Feed of N random tokens) and greedy decoding (one
// token per Feed), with the bytes of weights a decoded token reads, so a result can be
// set against the memory bandwidth (the roofline of memory-bound decoding).
#pragma once

#include <cstdint>
#include <string>

#include "model/model.h"

namespace quip {

struct SpeedResult {
  int prompt_tokens = 0, gen_tokens = 0;
  double prompt_seconds = 0, decode_seconds = 0;
  double prompt_tps = 0, decode_tps = 0;
  // Process CPU seconds (user + system, all threads) while decoding: compare with
  // decode_seconds × threads to see whether the run had the cores to itself.
  double decode_cpu_seconds = 0;
  // The same for the prompt: on a shared machine, tokens per CPU second compare runs
  // that got different shares of the cores.
  double prompt_cpu_seconds = 0;
  int64_t weight_bytes_per_token = 0;
  double decode_gbps = 0;       // weight bytes per token × decode tokens/s
  double rotation_share = 0;    // of decode time, in quantized linears' D̃ and rotations (every codebook)
  double quant_matmul_share = 0;  // of decode time, in quantized linears' G x' (every codebook)
  double prompt_rotation_share = 0, prompt_quant_matmul_share = 0;  // the same, of prompt time
  std::string linear_format;    // "f32", "quip-2bit", or "mixed"
};

// Bytes of weights one decoded token reads: every Linear's WeightBytes (blocks and
// lm_head), one embedding row and the RMSNorm weights.
int64_t WeightBytesPerToken(const Model& model);

// Feeds `prompt` seeded random tokens at once (timed), then decodes `gen` tokens
// greedily (timed). A short untimed warm-up first touches every weight.
SpeedResult MeasureSpeed(const Model& model, int prompt, int gen, uint64_t seed);


}  // namespace quip
