// The calibration windows' residual streams as quantization walks the blocks, and the
// second moments of the linears' inputs measured on them:
//   x       through the already quantized blocks (and the current block's linears as
//           they stand), the stream the Hessians H = E[x̂ x̂ᵀ] are measured on;
//   x_orig  through the original model, kept for asymmetric targets only: the cross
//           moments C = E[x x̂ᵀ] pair each input with the original model's input for
//           the same token (quant/hessian.h, AsymmetricTarget).
// Every window's Hessian and cross-moment sums are added up in one fixed tree over the
// window indices (pipeline/window_sum.h): the threads take the windows in any order, the
// processes of a ProcessGroup hold contiguous ranges of them, and the moments (and so the
// codes) are the same bits at any thread and process count.
#pragma once

#include <Eigen/Dense>
#include <array>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "model/forward.h"
#include "model/model.h"
#include "pipeline/process_group.h"

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
// How many of kBlockLinears a block of this family has.
int BlockLinearCount(const LlamaConfig& c);
inline constexpr int kNumLinearInputs = 4;
const char* LinearInputName(LinearInput which);  // "qkv", "o", "gate_up", "down"
int LinearInputWidth(const LlamaConfig& c, LinearInput which);  // dim, q_dim or hidden_dim

// Block weights as in the source model: the norms and fresh views of the dense weights,
// which stay valid while the block's linears are replaced. Throws quip::Error naming the
// linear (prefix + suffix) when one is already quantized.
LayerWeights OriginalBlock(const LayerWeights& layer, const std::string& prefix);

// Second moments of linear inputs, indexed by int(LinearInput); empty where not measured.
struct InputMoments {
  Eigen::MatrixXd hessian[kNumLinearInputs];  // H = E[x̂ x̂ᵀ]
  Eigen::MatrixXd cross[kNumLinearInputs];    // C = E[x x̂ᵀ], asymmetric streams only
};

// Per input (int(LinearInput)), the ranks that need its moments, ascending; empty: every rank.
using MomentReceivers = std::array<std::vector<int>, kNumLinearInputs>;

class CalibrationStreams {
 public:
  // Embeds this process's windows (WindowRange of all, which have one length); `asymmetric`
  // also keeps the original stream.
  CalibrationStreams(const Model& model, const std::vector<std::vector<int>>& windows, bool asymmetric,
                     ProcessGroup& group = SingleProcess());
  ~CalibrationStreams();

  // Moments of `inputs` of the block the streams have reached, run with weights
  // `current`; the cross moments against it run with `original` on the original stream.
  // Each part of the block runs once per stream: a one-input capture (the sequential
  // stages, in block order) continues from where the previous one stopped, so every
  // linear that reads an earlier input of the block must keep its weights in `current`
  // until Advance. The quantized stream keeps the stopped state of each window (x, and
  // the attention output or gated activation: one [ctx][max(q_dim, ffn)] buffer); the
  // original stream, whose weights never change, runs on to the next point where x alone
  // is its state. Several inputs (--targets block) run a copy from the block input.
  // Over all windows: with several processes, one SumToProcesses per input, to the ranks
  // receivers[int(input)] (those that round one of its linears; empty: every rank). The
  // other ranks get that input's moments empty: the stage's totals are sharded by input.
  InputMoments Capture(const LayerWeights& current, const LayerWeights& original,
                       std::span<const LinearInput> inputs, const MomentReceivers& receivers = {});
  // Moves this process's streams through that block: x through `current`, x_orig through `original`.
  void Advance(const LayerWeights& current, const LayerWeights& original);
  // This process's quantized stream x at the block's input, [windows][length][dim], before
  // the block's first Capture (per-block tuning's inputs, train/block_tune.h).
  const std::vector<float>& BlockInput() const;
  // The original stream x_orig (asymmetric streams), past the block once its last input was captured.
  const std::vector<float>& OriginalBlockOutput() const;
  // Puts x back at the block's input, which BlockInput returned: the next Advance runs the
  // whole block, since its weights changed after the captures ran parts of it.
  void Rewind(std::vector<float> block_input);

  // Where a stream stands in the block: before a linear input (as LinearInput) or past the block.
  enum class Point { kQkv, kO, kGateUp, kDown, kOutput };

 private:
  struct Worker;
  // Runs window w of x on with `weights` from at_ (its saved activation restored), in place.
  void RunOn(int worker, int w, const LayerWeights& weights, LinearInputObserver* observer);
  // Keeps the activation a run stopped at `stop` left in the worker's scratch (kO, kDown).
  void SavePending(int worker, int w, Point stop);
  // fn(worker, window) for every window of this process, spread over the workers.
  void ForEachWindow(const std::function<void(int, int)>& fn);
  float* Stream(std::vector<float>& x, int window) { return &x[size_t(window - begin_) * length_ * config_.dim]; }

  const LlamaConfig& config_;
  ProcessGroup& group_;
  int windows_, length_;
  int begin_, end_;  // this process's windows
  bool asymmetric_;
  std::vector<float> x_, x_orig_;  // [end - begin][length][dim]
  Point at_ = Point::kQkv, at_orig_ = Point::kQkv;
  int pending_width_ = 0;
  std::vector<float> pending_;  // [end - begin][length][pending_width_]: x's attention output or activation
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace quip
