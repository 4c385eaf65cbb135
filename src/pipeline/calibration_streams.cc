#include "pipeline/calibration_streams.h"

#include <algorithm>
#include <atomic>
#include <map>
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

// Copies one linear input of the observed block (the original model's, for the cross
// moments); the block runs on to the next point where the residual stream alone is its
// state (CalibrationStreams::Capture).
class InputRecorder final : public LinearInputObserver {
 public:
  explicit InputRecorder(LinearInput which) : which_(which) {}
  void Observe(int, LinearInput which, const float* x, int ntok, int width) override {
    if (which == which_) recorded.assign(x, x + size_t(ntok) * width);
  }
  bool StopAfter(LinearInput which) const override {
    return which >= which_ && (which == LinearInput::kQkv || which == LinearInput::kGateUp);
  }
  std::vector<float> recorded;

 private:
  LinearInput which_;
};

// Where the original stream stands after recording `which` (InputRecorder::StopAfter).
CalibrationStreams::Point PointAfterRecording(LinearInput which) {
  switch (which) {
    case LinearInput::kQkv: return CalibrationStreams::Point::kQkv;
    case LinearInput::kO:
    case LinearInput::kGateUp: return CalibrationStreams::Point::kGateUp;
    case LinearInput::kDown: return CalibrationStreams::Point::kOutput;
  }
  return CalibrationStreams::Point::kQkv;
}

// One window's (or a tree node's) sums of the selected inputs, indexed by int(LinearInput).
struct Moments {
  std::optional<HessianAccumulator> hessian[kNumLinearInputs];
  std::optional<CrossMomentAccumulator> cross[kNumLinearInputs];
};

void AddMoments(Moments& a, Moments& b) {
  for (int i = 0; i < kNumLinearInputs; ++i) {
    if (a.hessian[i]) a.hessian[i]->Merge(*b.hessian[i]);
    if (a.cross[i]) a.cross[i]->Merge(*b.cross[i]);
  }
}

// Accumulates the selected inputs of the observed block into H; with a recording of
// the original model's input for the same tokens (one input only), also into C.
class MomentCollector final : public LinearInputObserver {
 public:
  MomentCollector(const LlamaConfig& c, std::span<const LinearInput> inputs, const InputRecorder* reference)
      : last_(inputs.back()), reference_(reference) {
    QUIP_ASSERT(!reference || inputs.size() == 1);
    for (LinearInput in : inputs) {
      moments.hessian[int(in)].emplace(LinearInputWidth(c, in));
      if (reference_) moments.cross[int(in)].emplace(LinearInputWidth(c, in));
    }
  }
  void Observe(int, LinearInput which, const float* x, int ntok, int) override {
    if (!moments.hessian[int(which)]) return;
    moments.hessian[int(which)]->Add(x, ntok);
    if (reference_) moments.cross[int(which)]->Add(reference_->recorded.data(), x, ntok);
  }
  bool StopAfter(LinearInput which) const override { return which == last_; }
  Moments moments;

 private:
  LinearInput last_;
  const InputRecorder* reference_;
};

// One input's sums as one flat vector for SumToProcesses (H's lower triangle column by
// column, then C whole), freeing them; and its means from the flat total of `tokens` tokens.
std::vector<double> FlattenInput(Moments& m, int input) {
  std::vector<double> flat;
  const Eigen::MatrixXd& h = m.hessian[input]->raw_sum();
  for (Eigen::Index j = 0; j < h.cols(); ++j) flat.insert(flat.end(), &h(j, j), &h(0, j) + h.rows());
  m.hessian[input].reset();
  if (m.cross[input]) {
    const Eigen::MatrixXd& c = m.cross[input]->raw_sum();
    flat.insert(flat.end(), c.data(), c.data() + c.size());
    m.cross[input].reset();
  }
  return flat;
}

void MeansFromFlat(std::vector<double> flat, int64_t tokens, int width, bool cross, int input, InputMoments& out) {
  std::optional<HessianAccumulator> h(std::in_place, width);
  std::optional<CrossMomentAccumulator> c;
  if (cross) c.emplace(width);
  size_t at = 0;
  for (Eigen::Index j = 0; j < width; ++j) {
    std::copy_n(&flat[at], width - j, &h->raw_sum()(j, j));
    at += size_t(width - j);
  }
  if (c) {
    std::copy_n(&flat[at], c->raw_sum().size(), c->raw_sum().data());
    at += size_t(c->raw_sum().size());
  }
  QUIP_ASSERT(at == flat.size());
  flat = {};  // each sum freed once its mean is made
  h->set_count(tokens);
  out.hessian[input] = h->Mean();
  h.reset();
  if (c) {
    c->set_count(tokens);
    out.cross[input] = c->Mean();
  }
}

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

int BlockLinearCount(const LlamaConfig& c) {
  int n = 0;
  for (const BlockLinear& b : kBlockLinears) n += BlockHasLinear(c, b);
  return n;
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

struct CalibrationStreams::Worker {
  Worker(const LlamaConfig& c, int length) : cache(c, length, 1), scratch(c, length), x(size_t(length) * c.dim) {}
  KvCache cache;  // one layer: every block runs in cache slot 0
  ForwardScratch scratch;
  std::vector<float> x;  // one window's residual stream, run on a copy
};

CalibrationStreams::CalibrationStreams(const Model& model, const std::vector<std::vector<int>>& windows,
                                       bool asymmetric, ProcessGroup& group)
    : config_(model.config), group_(group), windows_(int(windows.size())), asymmetric_(asymmetric) {
  QUIP_ASSERT(!windows.empty());
  QUIP_CHECK_INPUT(windows_ >= group.size(), "--nsamples", "{} calibration windows cannot be split over {} processes",
                   windows_, group.size());
  length_ = int(windows[0].size());
  const auto [begin, end] = WindowRange(windows_, group.rank(), group.size());
  begin_ = int(begin), end_ = int(end);
  x_.resize(size_t(end_ - begin_) * length_ * config_.dim);
  for (int w = begin_; w < end_; ++w) Embed(model, windows[size_t(w)], Stream(x_, w));
  if (asymmetric_) x_orig_ = x_;
  pending_width_ = std::max(config_.q_dim(), config_.hidden_dim);
  const int workers = std::min(ThreadPool::Global().threads(), end_ - begin_);
  for (int i = 0; i < workers; ++i) workers_.push_back(std::make_unique<Worker>(config_, length_));
}

CalibrationStreams::~CalibrationStreams() = default;

void CalibrationStreams::ForEachWindow(const std::function<void(int, int)>& fn) {
  std::atomic<int> next{begin_};
  ThreadPool::Global().Run(int64_t(workers_.size()), [&](int64_t worker) {
    for (int w = next++; w < end_; w = next++) fn(int(worker), w);
  });
}

void CalibrationStreams::RunOn(int i, int w, const LayerWeights& weights, LinearInputObserver* observer) {
  Worker& worker = *workers_[size_t(i)];
  float* pending = at_ == Point::kO || at_ == Point::kDown ? &pending_[size_t(w - begin_) * length_ * pending_width_] : nullptr;
  if (at_ == Point::kO) std::copy_n(pending, size_t(length_) * config_.q_dim(), worker.scratch.attn.data());
  if (at_ == Point::kDown) std::copy_n(pending, size_t(length_) * config_.hidden_dim, worker.scratch.gate.data());
  RunBlock(config_, weights, kSlot, Stream(x_, w), length_, 0, worker.cache, worker.scratch, observer, LinearInput(int(at_)));
}

void CalibrationStreams::SavePending(int i, int w, Point stop) {
  const ForwardScratch& s = workers_[size_t(i)]->scratch;
  float* pending = &pending_[size_t(w - begin_) * length_ * pending_width_];
  if (stop == Point::kO) std::copy_n(s.attn.data(), size_t(length_) * config_.q_dim(), pending);
  if (stop == Point::kDown) std::copy_n(s.gate.data(), size_t(length_) * config_.hidden_dim, pending);
}

InputMoments CalibrationStreams::Capture(const LayerWeights& current, const LayerWeights& original,
                                         std::span<const LinearInput> inputs, const MomentReceivers& receivers) {
  std::vector<InputRecorder> references(workers_.size(), InputRecorder(inputs.front()));
  WindowTreeSum<Moments> tree(begin_, end_, windows_, AddMoments);
  // One input (the sequential stages): the linears before it keep their weights until
  // Advance (see the header), so the stream runs on in place from where the last stage
  // stopped, and stops at this input. Several (--targets block): a copy runs from the block input.
  const bool in_place = inputs.size() == 1;
  const Point stop = Point(int(inputs.front()));
  QUIP_ASSERT(in_place ? stop >= at_ : at_ == Point::kQkv);
  QUIP_ASSERT(!asymmetric_ || (in_place && stop >= at_orig_));
  if (in_place && (stop == Point::kO || stop == Point::kDown) && pending_.empty())
    pending_.resize(size_t(end_ - begin_) * length_ * pending_width_);
  ForEachWindow([&](int i, int w) {
    Worker& worker = *workers_[size_t(i)];
    if (asymmetric_) {
      RunBlock(config_, original, kSlot, Stream(x_orig_, w), length_, 0, worker.cache, worker.scratch,
               &references[size_t(i)], LinearInput(int(at_orig_)));
    }
    MomentCollector collector(config_, inputs, asymmetric_ ? &references[size_t(i)] : nullptr);
    if (in_place) {
      RunOn(i, w, current, &collector);
      SavePending(i, w, stop);
    } else {
      std::copy_n(Stream(x_, w), size_t(length_) * config_.dim, worker.x.data());
      RunBlock(config_, current, kSlot, worker.x.data(), length_, 0, worker.cache, worker.scratch, &collector);
    }
    tree.Add(w, std::move(collector.moments));
  });
  if (in_place) at_ = stop;
  if (asymmetric_) at_orig_ = PointAfterRecording(inputs.front());
  std::map<WindowNode, Moments> nodes = tree.Take();
  InputMoments m;
  if (group_.size() == 1) {
    Moments total = SumWindowNodes<Moments>(nodes, windows_, AddMoments);
    for (LinearInput in : inputs) {
      m.hessian[int(in)] = total.hessian[int(in)]->Mean();
      if (asymmetric_) m.cross[int(in)] = total.cross[int(in)]->Mean();
    }
    return m;
  }
  // One reduce per input, to the ranks that need it; each input's node sums are freed as it goes.
  for (LinearInput in : inputs) {
    std::map<WindowNode, std::vector<double>> flat;
    for (auto& [node, sums] : nodes) flat.emplace(node, FlattenInput(sums, int(in)));
    std::vector<int> to = receivers[int(in)];
    if (to.empty())  // none named: every rank
      for (int r = 0; r < group_.size(); ++r) to.push_back(r);
    std::vector<double> total = SumToProcesses(group_, flat, windows_, to);
    if (!total.empty())
      MeansFromFlat(std::move(total), int64_t(windows_) * length_, LinearInputWidth(config_, in), asymmetric_,
                    int(in), m);
  }
  return m;
}

void CalibrationStreams::Advance(const LayerWeights& current, const LayerWeights& original) {
  ForEachWindow([&](int i, int w) {
    Worker& worker = *workers_[size_t(i)];
    RunOn(i, w, current, nullptr);
    if (asymmetric_ && at_orig_ != Point::kOutput)
      RunBlock(config_, original, kSlot, Stream(x_orig_, w), length_, 0, worker.cache, worker.scratch, nullptr,
               LinearInput(int(at_orig_)));
  });
  at_ = at_orig_ = Point::kQkv;
}

const std::vector<float>& CalibrationStreams::BlockInput() const {
  QUIP_ASSERT(at_ == Point::kQkv);
  return x_;
}

const std::vector<float>& CalibrationStreams::OriginalBlockOutput() const {
  QUIP_ASSERT(asymmetric_ && at_orig_ == Point::kOutput);
  return x_orig_;
}

void CalibrationStreams::Rewind(std::vector<float> block_input) {
  QUIP_ASSERT(block_input.size() == x_.size());
  x_ = std::move(block_input);
  at_ = Point::kQkv;
}

}  // namespace quip
