#include "pipeline/calibration_streams.h"

#include <algorithm>
#include <functional>
#include <optional>

#include "core/error.h"
#include "core/thread_pool.h"
#include "quant/hessian.h"

namespace quip {
namespace {

// The KV cache slot every block runs in (the shards' caches hold one layer; the
// observers here do not use the layer index RunBlock passes on).
constexpr int kSlot = 0;

// Copies one linear input of the observed block (the original model's, for the cross moments).
class InputRecorder final : public LinearInputObserver {
 public:
  explicit InputRecorder(LinearInput which) : which_(which) {}
  void Observe(int, LinearInput which, const float* x, int ntok, int width) override {
    if (which == which_) recorded.assign(x, x + size_t(ntok) * width);
  }
  bool StopAfter(LinearInput which) const override { return which == which_; }
  std::vector<float> recorded;

 private:
  LinearInput which_;
};

// Accumulates the selected inputs of the observed block into H; with a recording of
// the original model's input for the same tokens (one input only), also into C.
class MomentCollector final : public LinearInputObserver {
 public:
  MomentCollector(const LlamaConfig& c, std::span<const LinearInput> inputs, const InputRecorder* reference)
      : last_(inputs.back()), reference_(reference) {
    QUIP_ASSERT(!reference || inputs.size() == 1);
    for (LinearInput in : inputs) {
      hessian[int(in)].emplace(LinearInputWidth(c, in));
      if (reference_) cross[int(in)].emplace(LinearInputWidth(c, in));
    }
  }
  void Observe(int, LinearInput which, const float* x, int ntok, int) override {
    if (!hessian[int(which)]) return;
    hessian[int(which)]->Add(x, ntok);
    if (reference_) cross[int(which)]->Add(reference_->recorded.data(), x, ntok);
  }
  bool StopAfter(LinearInput which) const override { return which == last_; }
  std::optional<HessianAccumulator> hessian[kNumLinearInputs];
  std::optional<CrossMomentAccumulator> cross[kNumLinearInputs];

 private:
  LinearInput last_;
  const InputRecorder* reference_;
};

}  // namespace

const char* LinearInputName(LinearInput which) {
  constexpr const char* kNames[kNumLinearInputs] = {"qkv", "o", "gate_up", "down"};
  return kNames[int(which)];
}

int LinearInputWidth(const LlamaConfig& c, LinearInput which) {
  switch (which) {
    case LinearInput::kQkv:
    case LinearInput::kGateUp: return c.dim;
    case LinearInput::kO: return c.q_dim();
    case LinearInput::kDown: return c.hidden_dim;
  }
  return 0;
}

bool BlockHasLinear(const LlamaConfig& c, const BlockLinear& b) {
  if (b.input == LinearInput::kQkv) return (b.slot == &LayerWeights::qkv) == c.fused_qkv;
  if (b.input == LinearInput::kGateUp) return (b.slot == &LayerWeights::gate_up) == c.fused_gate_up;
  return true;
}

LayerWeights OriginalBlock(const LayerWeights& layer, const std::string& prefix) {
  LayerWeights original;
  original.attn_norm = layer.attn_norm;
  original.ffn_norm = layer.ffn_norm;
  original.q_bias = layer.q_bias;
  original.k_bias = layer.k_bias;
  original.v_bias = layer.v_bias;
  original.o_bias = layer.o_bias;
  original.q_norm = layer.q_norm;
  original.k_norm = layer.k_norm;
  original.post_attn_norm = layer.post_attn_norm;
  original.post_ffn_norm = layer.post_ffn_norm;
  original.sliding_window = layer.sliding_window;
  original.local_rope = layer.local_rope;
  for (const BlockLinear& b : kBlockLinears) {
    if (!(layer.*b.slot)) continue;  // not in this architecture (BlockHasLinear)
    const auto* dense = dynamic_cast<const DenseLinear*>((layer.*b.slot).get());
    QUIP_CHECK_INPUT(dense != nullptr, prefix + b.suffix, "is already quantized");
    original.*b.slot = std::make_unique<DenseLinear>(dense->weight());
  }
  return original;
}

struct CalibrationStreams::Shard {
  Shard(const LlamaConfig& c, int length) : cache(c, length, 1), scratch(c, length), x(size_t(length) * c.dim) {}
  KvCache cache;  // one layer: every block runs in cache slot 0
  ForwardScratch scratch;
  std::vector<float> x;  // one window's residual stream, run on a copy
};

CalibrationStreams::CalibrationStreams(const Model& model, const std::vector<std::vector<int>>& windows,
                                       bool asymmetric)
    : config_(model.config), windows_(int(windows.size())), asymmetric_(asymmetric) {
  QUIP_ASSERT(!windows.empty());
  length_ = int(windows[0].size());
  const size_t stride = size_t(length_) * config_.dim;
  x_.resize(windows.size() * stride);
  for (size_t w = 0; w < windows.size(); ++w) Embed(model, windows[w], &x_[w * stride]);
  if (asymmetric_) x_orig_ = x_;
  for (int s = 0; s < std::min(kCalibrationShards, windows_); ++s) shards_.push_back(std::make_unique<Shard>(config_, length_));
}

CalibrationStreams::~CalibrationStreams() = default;

void CalibrationStreams::ForEachWindow(const std::function<void(int, int)>& fn) {
  const int n = int(shards_.size());
  ThreadPool::Global().Run(n, [&](int64_t s) {
    for (int w = int(s); w < windows_; w += n) fn(int(s), w);
  });
}

InputMoments CalibrationStreams::Capture(const LayerWeights& current, const LayerWeights& original,
                                         std::span<const LinearInput> inputs) {
  const size_t stride = size_t(length_) * config_.dim;
  std::vector<InputRecorder> references(shards_.size(), InputRecorder(inputs.front()));
  std::vector<MomentCollector> collectors;
  for (size_t s = 0; s < shards_.size(); ++s)
    collectors.emplace_back(config_, inputs, asymmetric_ ? &references[s] : nullptr);
  ForEachWindow([&](int s, int w) {
    Shard& shard = *shards_[size_t(s)];
    if (asymmetric_) {
      std::copy_n(&x_orig_[w * stride], stride, shard.x.data());
      RunBlock(config_, original, kSlot, shard.x.data(), length_, 0, shard.cache, shard.scratch, &references[size_t(s)]);
    }
    std::copy_n(&x_[w * stride], stride, shard.x.data());
    RunBlock(config_, current, kSlot, shard.x.data(), length_, 0, shard.cache, shard.scratch, &collectors[size_t(s)]);
  });
  InputMoments m;
  MomentCollector& total = collectors.front();
  for (LinearInput in : inputs) {
    const int i = int(in);
    for (size_t s = 1; s < collectors.size(); ++s) {
      total.hessian[i]->Merge(*collectors[s].hessian[i]);
      if (asymmetric_) total.cross[i]->Merge(*collectors[s].cross[i]);
    }
    m.hessian[i] = total.hessian[i]->Mean();
    if (asymmetric_) m.cross[i] = total.cross[i]->Mean();
  }
  return m;
}

void CalibrationStreams::Advance(const LayerWeights& current, const LayerWeights& original) {
  const size_t stride = size_t(length_) * config_.dim;
  ForEachWindow([&](int s, int w) {
    Shard& shard = *shards_[size_t(s)];
    RunBlock(config_, current, kSlot, &x_[w * stride], length_, 0, shard.cache, shard.scratch);
    if (asymmetric_) RunBlock(config_, original, kSlot, &x_orig_[w * stride], length_, 0, shard.cache, shard.scratch);
  });
}

}  // namespace quip
