// Per-block tuning during quantization (QuIP#'s first fine-tuning stage; docs/finetune.md):
// once a block's linears are rounded, its continuous parameters (those end-to-end tuning
// trains: input and output multipliers, codebook scales, RMSNorm gains; train/train_block.h)
// are tuned with Adam so that the block reproduces the fp32 block's output, MSE over the
// calibration windows' quantized stream at the block's input, before that stream is
// propagated through the block and the next block is calibrated.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "model/model.h"
#include "train/train_block.h"

namespace quip::train {

struct BlockTuneOptions {
  int steps = 0;        // Adam steps per block, one window each; 0: off
  double lr = 1e-3;     // relative change per step (train/adam.h), warm-up then cosine
  // Held-out windows (the last of the calibration windows) on which the MSE is measured
  // every eval_every steps; the best parameters are kept (the untuned ones when none beats them).
  int valid_windows = 8;
  int eval_every = 32;
  // The target: the fp32 block on the same (quantized) input, as QuIP# does (the default); or,
  // with `original_stream`, the original model's residual stream after this block, which also
  // asks the block to undo the earlier blocks' error. Measured on books-llama-5m QuIP# 3-bit,
  // block tuning alone, books / WikiText-2 ratio: 1.0169 / 1.0017 and 1.0139 / 1.0190 (untuned
  // 1.0190 / 0.9879): the original stream buys books at WikiText's expense (docs/finetune.md).
  bool original_stream = false;
};

struct BlockTuneResult {
  double mse_before = 0, mse_after = 0;  // held-out mean square error of the block output
  double target_mean_square = 0;         // mean square of the fp32 block's output (scale of the above)
  int best_step = 0;
  double seconds = 0;
};

// The per-block objective: mean over the window's elements of (block(input) − target)²
// (QuIP#'s MSE on the block output); with `gradient`, adds its gradient to the block's
// parameters. Without it only const members of `block` run (several threads may share it).
template <typename T>
double BlockMse(TrainBlock<T>& block, const Mat<T>& input, const Mat<T>& target, const RopeTable<T>& rope,
                bool gradient);

// Tunes the quantized block `layer` (norms and quantized linears replaced by tuned ones, new
// storage kept by `owners`) towards `original`, the same block with its fp32 weights, on the
// windows of `inputs` ([windows][length][dim], the quantized stream at the block's input).
// `original_outputs`: the original stream after this block, same layout (options.original_stream).
// Throws quip::Error naming `prefix` for a block the training form does not support.
BlockTuneResult TuneBlock(const LlamaConfig& config, LayerWeights& layer, const LayerWeights& original,
                          std::span<const float> inputs, std::span<const float> original_outputs, int windows,
                          int length, const BlockTuneOptions& options, std::vector<StorageOwner>& owners,
                          const std::string& prefix);

}  // namespace quip::train
