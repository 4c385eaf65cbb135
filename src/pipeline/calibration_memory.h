// Memory and disk `quip quantize` needs, counted from the structures QuantizeModel and
// CalibrationStreams allocate (issue 14): the same shard count, stage list, input widths
// and target mode the calibration runs with, so the check before the run (core/resources.h
// CheckResources) refuses a run that would not fit instead of letting it be killed.
//
// Counted, on top of the loaded model (which EstimateQuantize adds as fp32 weights):
//   streams     every window's residual stream x, and x_orig for --targets original; with
//               the sequential targets also x's stopped activation (ctx × max(q_dim, ffn));
//   shards      per calibration worker (min(threads, windows)): a one-layer KV cache, the
//               ForwardScratch of one window (RoPE tables included), the window's copy;
//   per thread  per calibration worker: RunBlock's attention scores (ctx × ctx) and the
//               rank-k chunk the accumulators convert to double;
//   stage       the largest stage's peak, the larger of
//                 capture:  the Hessian (and cross-moment) sums in double of the windows
//                           in flight and of the tree nodes waiting for their sibling (one
//                           per level of pipeline/window_sum.h's tree), the workers'
//                           recorded original inputs, the total's means and Mean()'s temporary;
//                 rounding: the stage's means plus, for the linears rounded at once (up to
//                           --threads), the double matrices of each one's fullest moment
//                           (factoring H: 7 n×n + 4 rows×cols; rounding: 4 n×n + 8 rows×cols;
//                           LDLQ-RG 4 rows×cols more: its permuted input and GreedyRefine's copies);
//   quantized   the packed codes and scales of every linear (the last block's stages run
//               with all of them in memory);
//   slack       heap fragmentation and OpenBLAS's packing buffers (a fixed part and one
//               per thread, measured on books-llama-5m). quip runs with one malloc arena
//               (core/resources.h ShareOneMallocArena): a thread's freed blocks are reused by
//               every thread, so no thread's arena keeps a finished job's matrices.
// Not counted: the model itself (memory-mapped or converted to fp32: EstimateQuantize adds
// 4 bytes per parameter), the calibration text and its tokens (freed before calibration),
// the binary and its libraries, heap blocks freed before QuantizeModel starts (it returns
// them with malloc_trim), and OpenBLAS's buffer address space beyond the pages touched
// (CheckResources adds that to the address-space check).
// Checked against the peak RSS growth of real runs on books-llama-5m at two calibration
// sizes (tests/pipeline/calibration_memory_test.cc): estimate within 1–1.5× of it.
#pragma once

#include <cstdint>
#include <string>

#include "core/resources.h"
#include "model/config.h"
#include "pipeline/quantize_model.h"

namespace quip {

struct CalibrationMemory {
  int64_t streams = 0, shards = 0, per_thread = 0, stage = 0, quantized = 0, slack = 0;  // bytes
  std::string stage_name;  // the largest stage: "down capture", "gate_up rounding", ...
  int64_t total() const { return streams + shards + per_thread + stage + quantized + slack; }
  std::string Breakdown() const;  // "residual streams 1.07 GB + ... + down capture 15.5 GB + ..."
};

// QuantizeModel's peak for `windows` windows of `ctx` tokens with `threads` worker threads.
CalibrationMemory EstimateCalibrationMemory(const LlamaConfig& c, int64_t windows, int64_t ctx,
                                            const QuantizeModelOptions& options, int threads);

// The whole `quip quantize` run for CheckResources: the model as fp32 (already mapped when
// the check runs) + the calibration above; disk: the output folder (tokenizer files copied).
ResourceEstimate EstimateQuantize(const LlamaConfig& c, int64_t windows, int64_t ctx,
                                  const QuantizeModelOptions& options, int threads, int64_t tokenizer_bytes);

}  // namespace quip
