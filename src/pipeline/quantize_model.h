// Quantizes every linear layer of a model, block by block (QuIP section 1):
//   1. run the calibration windows through block l (inputs = outputs of the already
//      quantized blocks 0..l-1) and accumulate H = E[x x^T] per distinct linear input
//      (q/k/v share one, gate/up share one, o_proj and down_proj have their own);
//   2. quantize the block's seven linears (pre-processing, rounding: src/quant);
//   3. rerun block l with its quantized weights to produce block l+1's inputs.
// Only one block's activations and Hessians are alive at a time.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/model.h"
#include "quant/quantize.h"

namespace quip {

// Per-linear bit widths: every linear whose name ends with `pattern` at a '.' boundary
// ("v_proj", "layers.0.mlp.down_proj") gets `bits`; the last matching override wins.
struct BitsOverride {
  std::string pattern;
  int bits = 2;
};
bool LinearNameMatches(const std::string& name, const std::string& pattern);

struct QuantizeModelOptions {
  QuantConfig config;  // per-layer settings; config.seed is mixed with the layer's name
  std::string method;  // recorded in the report
  std::vector<BitsOverride> bits_overrides;  // mixed precision; each must match some linear
};

// Called as each layer's linears are done: (layer index, layer count).
using LayerProgressFn = std::function<void(int, int)>;

// Replaces the linears of `model` with QuantizedLinear layers and returns the report
// (per-linear statistics, seconds per stage, bits per weight, peak RSS).
nlohmann::json QuantizeModel(Model& model, const std::vector<std::vector<int>>& windows,
                             const QuantizeModelOptions& options, const LayerProgressFn& progress = nullptr);

// The inference layer for a freshly quantized matrix, by codebook (QuantizedLinear for
// the scalar grid, E8PLinear for E8P).
std::unique_ptr<Linear> MakeQuantizedLinear(const QuantizedMatrix& q);

// Bytes of the linear layers' weights as stored (codes, scales, rescale) and their count.
struct LinearStorage {
  int64_t bytes = 0;
  int64_t weights = 0;
  double bits_per_weight() const { return weights ? 8.0 * double(bytes) / double(weights) : 0.0; }
};
LinearStorage MeasureLinearStorage(const Model& model);

}  // namespace quip
