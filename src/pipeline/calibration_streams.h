// The calibration windows' residual streams as quantization walks the blocks, and the
// second moments of the linears' inputs measured on them:
//   x       through the already quantized blocks (and the current block's linears as
//           they stand), the stream the Hessians H = E[x̂ x̂ᵀ] are measured on;
//   x_orig  through the original model, kept for asymmetric targets only: the cross
//           moments C = E[x x̂ᵀ] pair each input with the original model's input for
//           the same token (quant/hessian.h, AsymmetricTarget).
// Windows run in kCalibrationShards fixed shards on the thread pool, each shard with its own KV
// cache, scratch and accumulators, merged in shard order: parallel, yet the moments
// (and so the codes) do not depend on the thread count.
#pragma once

#include <Eigen/Dense>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/forward.h"
#include "model/model.h"

namespace quip {

// The linears of a block with the input each reads (q/k/v share one, gate/up share one).
// Phi-3 stores q/k/v as one qkv_proj and gate/up as one gate_up_proj: each is quantized as one
// matrix with the Hessian of that shared input. BlockHasLinear says which a config has.
struct BlockLinear {
  const char* suffix;  // name within the block, e.g. "self_attn.q_proj"
  LinearInput input;
  std::unique_ptr<Linear> LayerWeights::*slot;
};
inline constexpr BlockLinear kBlockLinears[] = {
    {"self_attn.q_proj", LinearInput::kQkv, &LayerWeights::q},
    {"self_attn.k_proj", LinearInput::kQkv, &LayerWeights::k},
    {"self_attn.v_proj", LinearInput::kQkv, &LayerWeights::v},
    {"self_attn.o_proj", LinearInput::kO, &LayerWeights::o},
    {"mlp.gate_proj", LinearInput::kGateUp, &LayerWeights::gate},
    {"mlp.up_proj", LinearInput::kGateUp, &LayerWeights::up},
    {"mlp.down_proj", LinearInput::kDown, &LayerWeights::down},
    {"self_attn.qkv_proj", LinearInput::kQkv, &LayerWeights::qkv},
    {"mlp.gate_up_proj", LinearInput::kGateUp, &LayerWeights::gate_up},
};
bool BlockHasLinear(const LlamaConfig& c, const BlockLinear& b);
inline constexpr int kNumLinearInputs = 4;
const char* LinearInputName(LinearInput which);  // "qkv", "o", "gate_up", "down"
int LinearInputWidth(const LlamaConfig& c, LinearInput which);  // dim, q_dim or hidden_dim

// Windows run in this many fixed shards (see above); fewer when there are fewer windows.
inline constexpr int kCalibrationShards = 8;

// Block weights as in the source model: the norms and fresh views of the dense weights,
// which stay valid while the block's linears are replaced. Throws quip::Error naming the
// linear (prefix + suffix) when one is already quantized.
LayerWeights OriginalBlock(const LayerWeights& layer, const std::string& prefix);

// Second moments of linear inputs, indexed by int(LinearInput); empty where not measured.
struct InputMoments {
  Eigen::MatrixXd hessian[kNumLinearInputs];  // H = E[x̂ x̂ᵀ]
  Eigen::MatrixXd cross[kNumLinearInputs];    // C = E[x x̂ᵀ], asymmetric streams only
};

class CalibrationStreams {
 public:
  // Embeds the windows (all of one length); `asymmetric` also keeps the original stream.
  CalibrationStreams(const Model& model, const std::vector<std::vector<int>>& windows, bool asymmetric);
  ~CalibrationStreams();

  // Moments of `inputs` of the block the streams have reached, run with weights
  // `current`; the cross moments against it run with `original` on the original stream.
  InputMoments Capture(const LayerWeights& current, const LayerWeights& original,
                       std::span<const LinearInput> inputs);
  // Moves the streams through that block: x through `current`, x_orig through `original`.
  void Advance(const LayerWeights& current, const LayerWeights& original);

 private:
  struct Shard;
  // fn(shard index, window) for every window; a shard's windows run in order on one thread.
  void ForEachWindow(const std::function<void(int, int)>& fn);

  const LlamaConfig& config_;
  int windows_, length_;
  bool asymmetric_;
  std::vector<float> x_, x_orig_;  // [windows][length][dim]
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace quip
