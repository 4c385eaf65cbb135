// Quantizes every linear layer of a model, block by block (QuIP section 1):
//   1. run the calibration windows through block l (inputs = outputs of the already
//      quantized blocks 0..l-1) and accumulate H = E[x xᵀ] per distinct linear input
//      (q/k/v share one, gate/up share one, o_proj and down_proj have their own);
//   2. quantize the block's linears (pre-processing, rounding: src/quant);
//   3. rerun block l with its quantized weights to produce block l+1's inputs
//      (with --block-tune, after tuning the block's continuous parameters: train/block_tune.h).
// CalibrationTargets says how step 1 sees the block (measured on books-llama-5m, 2 bits,
// first 120 windows of books valid, ppl ratio to fp32):
//   block       the paper's protocol: all inputs from one run of the block's fp32 linears
//               (QuIP# 1.116, QuIP 1.181);
//   sequential  q/k/v, then o, then gate/up, then down, each input measured after the
//               linears before it are quantized (QuIP# 1.115: no gain alone);
//   original    sequential, and each linear is fitted to the original model's outputs,
//               E‖Ŵx̂ − Wx‖² with x from the fp32 model run alongside (quant/hessian.h,
//               AsymmetricTarget). QuIP# 1.073 (seeds 0–2: 1.073–1.075, block
//               1.116–1.132), QuIP 1.128; the default.
// Only one block's Hessians and the windows' residual streams are alive at a time
// (pipeline/calibration_streams.h).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/forward.h"
#include "model/model.h"
#include "pipeline/block_checkpoint.h"
#include "pipeline/process_group.h"
#include "quant/quantize.h"
#include "train/block_tune.h"

namespace quip {

// Per-linear bit widths: every linear whose name ends with `pattern` at a '.' boundary
// ("v_proj", "layers.0.mlp.down_proj") gets `bits`; the last matching override wins.
struct BitsOverride {
  std::string pattern;
  int bits = 2;
};
bool LinearNameMatches(const std::string& name, const std::string& pattern);

// What each linear's Hessian is measured on, and what it is fitted to (see above).
enum class CalibrationTargets { kBlock, kSequential, kOriginal };
const char* CalibrationTargetsName(CalibrationTargets t);  // "block", "sequential", "original"
CalibrationTargets ParseCalibrationTargets(const std::string& name);  // throws quip::Error listing the names
// The inputs captured together, in order: kBlock measures all four in one pass over the
// windows; the sequential modes measure each input after the linears before it are quantized.
std::vector<std::vector<LinearInput>> CalibrationStages(CalibrationTargets t);

struct QuantizeModelOptions {
  QuantConfig config;  // per-layer settings; config.seed is mixed with the layer's name
  std::string method;  // recorded in the report
  std::vector<BitsOverride> bits_overrides;  // mixed precision; each must match some linear
  CalibrationTargets targets = CalibrationTargets::kOriginal;
  // The processes the run is split over (pipeline/process_group.h); null: this one alone.
  // Every rank returns the same model and report (but for "distributed"'s measurements).
  ProcessGroup* group = nullptr;
  // --resume: finished blocks are loaded from and saved to `checkpoints` (rank 0's; the
  // others get them from rank 0).
  bool resume = false;
  BlockCheckpoints* checkpoints = nullptr;
  // --block-tune: after each block's linears are rounded, its continuous parameters are tuned
  // to the fp32 block's output (train/block_tune.h) before the stream moves on; steps 0: off.
  // One process only. The report's "block_tune" has each block's held-out MSE before/after.
  train::BlockTuneOptions block_tune = {};
};

// What makes a run's blocks, for BlockCheckpoints: the model's shape and source, the options
// the report records and a hash of the calibration windows' tokens.
nlohmann::json CheckpointRun(const Model& model, const std::vector<std::vector<int>>& windows,
                             const QuantizeModelOptions& options);

// Called as each layer's linears are done: (layer index, layer count).
using LayerProgressFn = std::function<void(int, int)>;

// Replaces the linears of `model` with IncoherentLinear layers and returns the report
// (per-linear statistics, seconds per stage, bits per weight, peak RSS).
nlohmann::json QuantizeModel(Model& model, const std::vector<std::vector<int>>& windows,
                             const QuantizeModelOptions& options, const LayerProgressFn& progress = nullptr);

// The inference layer for a freshly quantized matrix (packed: quant/pack.h).
std::unique_ptr<Linear> MakeQuantizedLinear(const QuantizedMatrix& q);

// Bytes of the linear layers' weights as stored (codes, scales, rescale) and their count.
struct LinearStorage {
  int64_t bytes = 0;
  int64_t weights = 0;
  double bits_per_weight() const { return weights ? 8.0 * double(bytes) / double(weights) : 0.0; }
};
LinearStorage MeasureLinearStorage(const Model& model);

}  // namespace quip
