#include "train/finetune.h"

#include <fmt/core.h>

#include <chrono>
#include <filesystem>
#include <cmath>
#include <optional>

#include "core/error.h"
#include "model/forward.h"
#include "train/adam.h"
#include "train/checkpoint.h"
#include "train/teacher_pages.h"
#include "train/train_model.h"

namespace quip::train {
namespace {

// log-softmax of the teacher's logits for each window, cached while they fit the budget.
class TeacherTargets {
 public:
  TeacherTargets(const Model& teacher, const std::vector<std::vector<int>>& windows, int64_t budget)
      : teacher_(teacher), windows_(windows), cache_(windows.size()) {
    int64_t bytes = 0;
    for (const auto& w : windows) bytes += int64_t(w.size()) * teacher.config.vocab_size * int64_t(sizeof(float));
    keep_ = bytes <= budget;
  }
  const Mat<float>& Get(size_t i) {
    if (cache_[i]) return *cache_[i];
    if (!keep_) std::fill(cache_.begin(), cache_.end(), std::nullopt);
    cache_[i] = TeacherLogProbs(teacher_, windows_[i]);
    return *cache_[i];
  }

 private:
  const Model& teacher_;
  const std::vector<std::vector<int>>& windows_;
  std::vector<std::optional<Mat<float>>> cache_;
  bool keep_ = true;
};

}  // namespace

Mat<float> TeacherLogProbs(const Model& teacher, std::span<const int> window) {
  Session session(teacher, int(window.size()));
  // Streamed: each block's pages dropped once it has run, so one block of the teacher is
  // resident, not all of it through tuning; the next window faults them back in from the page
  // cache (docs/finetune.md, Memory: the cost measured there). The arithmetic is the inference
  // forward's, unchanged.
  const std::span<const float> logits = session.Feed(
      window, /*all_logits=*/true, [&](int layer) { ReleaseTeacherBlock(teacher.layers[size_t(layer)]); });
  Mat<float> log_probs = LogSoftmax(logits.data(), int(window.size()), teacher.config.vocab_size);
  ReleaseTeacherEnds(teacher);
  return log_probs;
}

void CheckSameArchitecture(const Model& student, const Model& teacher) {
  const LlamaConfig &a = student.config, &b = teacher.config;
  QUIP_CHECK_INPUT(a.dim == b.dim && a.hidden_dim == b.hidden_dim && a.n_layers == b.n_layers &&
                       a.n_heads == b.n_heads && a.n_kv_heads == b.n_kv_heads && a.head_dim == b.head_dim &&
                       a.vocab_size == b.vocab_size,
                   teacher.source,
                   "has another architecture than {} (the teacher must be the model it was quantized from)",
                   student.source);
}

namespace {

// Ties a checkpoint to the options and windows that make its steps (FNV-1a over them).
std::string Fingerprint(const FinetuneOptions& o, const std::vector<std::vector<int>>& train,
                        const std::vector<std::vector<int>>& valid) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t x) {
    for (int i = 0; i < 8; ++i, x >>= 8) h = (h ^ (x & 0xff)) * 1099511628211ull;
  };
  for (const auto* set : {&train, &valid}) {
    mix(set->size());
    for (const auto& w : *set) {
      mix(w.size());
      for (int t : w) mix(uint64_t(t));
    }
  }
  return fmt::format("steps={} lr={} eval_every={} windows={:016x}{}{}", o.steps, o.lr, o.eval_every, h,
                     o.tune_code_table ? "" : " frozen_table",
                     o.teacher_top_k > 0 ? fmt::format(" top_k={}", o.teacher_top_k) : "");
}


// The loss of `model` on window i of the training (or held-out) set, with or without its gradient.
using WindowLoss = std::function<double(TrainModel<float>& model, size_t i, bool valid, bool gradient)>;

FinetuneResult Tune(Model& student, const std::vector<std::vector<int>>& train_windows,
                    const std::vector<std::vector<int>>& valid_windows, const FinetuneOptions& o,
                    const FinetuneProgress& progress, const WindowLoss& window_loss) {
  QUIP_ASSERT(!train_windows.empty() && !valid_windows.empty());
  const auto start = std::chrono::steady_clock::now();
  int max_len = 0;
  for (const auto& w : train_windows) max_len = std::max(max_len, int(w.size()));
  for (const auto& w : valid_windows) max_len = std::max(max_len, int(w.size()));
  TrainModel<float> model(student, max_len, /*checkpoint_blocks=*/true, o.tune_code_table);
  std::vector<Param<float>*> params = model.Params();
  Adam<float> adam(params);

  auto valid_kl = [&] {
    double sum = 0;
    for (size_t i = 0; i < valid_windows.size(); ++i) sum += window_loss(model, i, /*valid=*/true, /*gradient=*/false);
    return sum / double(valid_windows.size());
  };
  FinetuneResult r;
  std::vector<std::vector<float>> best;
  auto snapshot = [&] {
    best.clear();
    for (const Param<float>* p : params) best.push_back(p->value);
  };
  const std::string fingerprint = Fingerprint(o, train_windows, valid_windows);
  int first_step = 0;
  if (!o.checkpoint.empty() && std::filesystem::exists(o.checkpoint)) {
    FinetuneCheckpoint c = ReadCheckpoint(o.checkpoint);
    QUIP_CHECK_INPUT(c.fingerprint == fingerprint, o.checkpoint,
                     "belongs to another run ({}; this one: {}): give another --checkpoint", c.fingerprint,
                     fingerprint);
    QUIP_CHECK_INPUT(c.names.size() == params.size() && c.step <= o.steps, o.checkpoint,
                     "holds {} parameter tensors, this model {}", c.names.size(), params.size());
    for (size_t k = 0; k < params.size(); ++k) {
      QUIP_CHECK_INPUT(c.names[k] == params[k]->name && c.value[k].size() == params[k]->value.size(), o.checkpoint,
                       "tensor {} is '{}' of {} values, the model's is '{}' of {}", k, c.names[k], c.value[k].size(),
                       params[k]->name, params[k]->value.size());
      params[k]->value = c.value[k];
      adam.first_moments()[k] = c.m[k];
      adam.second_moments()[k] = c.v[k];
    }
    adam.set_steps(c.step);
    best = c.best;
    r.valid_kl_before = c.valid_kl_before;
    r.valid_kl_after = c.valid_kl_best;
    r.best_step = c.best_step;
    r.train_loss = c.train_loss;
    first_step = r.resumed_from = c.step;
  } else {
    r.valid_kl_before = r.valid_kl_after = valid_kl();
    snapshot();
  }
  auto save = [&](int steps_done) {
    FinetuneCheckpoint c;
    c.fingerprint = fingerprint;
    c.step = steps_done;
    for (size_t k = 0; k < params.size(); ++k) {
      c.names.push_back(params[k]->name);
      c.value.push_back(params[k]->value);
    }
    c.m = adam.first_moments();
    c.v = adam.second_moments();
    c.best = best;
    c.valid_kl_before = r.valid_kl_before;
    c.valid_kl_best = r.valid_kl_after;
    c.best_step = r.best_step;
    c.train_loss = r.train_loss;
    WriteCheckpoint(o.checkpoint, c);
  };
  for (int step = first_step; step < o.steps; ++step) {
    const size_t i = size_t(step) % train_windows.size();
    model.ZeroGrad();
    const double loss = window_loss(model, i, /*valid=*/false, /*gradient=*/true);
    QUIP_CHECK_INPUT(std::isfinite(loss), student.source, "fine-tuning diverged at step {} (loss {}): lower --lr",
                     step + 1, loss);
    adam.Step(WarmupCosineRate(o.lr, o.steps, step));
    r.train_loss.push_back(loss);
    double kl = -1;
    if ((step + 1) % o.eval_every == 0 || step + 1 == o.steps) {
      kl = valid_kl();
      if (kl < r.valid_kl_after) {
        r.valid_kl_after = kl;
        r.best_step = step + 1;
        snapshot();
      }
    }
    if (!o.checkpoint.empty()) save(step + 1);
    if (progress) progress(step + 1, o.steps, loss, kl);
  }
  for (size_t k = 0; k < params.size(); ++k) params[k]->value = best[k];
  model.ExportTo(student);
  r.steps = o.steps;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

}  // namespace

FinetuneResult Finetune(Model& student, const Model& teacher, const std::vector<std::vector<int>>& train_windows,
                        const std::vector<std::vector<int>>& valid_windows, const FinetuneOptions& o,
                        const FinetuneProgress& progress) {
  CheckSameArchitecture(student, teacher);
  QUIP_ASSERT(o.teacher_top_k == 0);
  TeacherTargets train_targets(teacher, train_windows, o.teacher_cache_bytes);
  TeacherTargets valid_targets(teacher, valid_windows, o.teacher_cache_bytes);
  return Tune(student, train_windows, valid_windows, o, progress,
              [&](TrainModel<float>& model, size_t i, bool valid, bool gradient) {
                return model.Loss(valid ? valid_windows[i] : train_windows[i],
                                  (valid ? valid_targets : train_targets).Get(i), gradient);
              });
}

FinetuneResult Finetune(Model& student, const std::vector<TopKTarget>& train_targets,
                        const std::vector<TopKTarget>& valid_targets, const std::vector<std::vector<int>>& train_windows,
                        const std::vector<std::vector<int>>& valid_windows, const FinetuneOptions& o,
                        const FinetuneProgress& progress) {
  QUIP_ASSERT(o.teacher_top_k > 0 && train_targets.size() == train_windows.size() &&
              valid_targets.size() == valid_windows.size());
  return Tune(student, train_windows, valid_windows, o, progress,
              [&](TrainModel<float>& model, size_t i, bool valid, bool gradient) {
                return model.Loss(valid ? valid_windows[i] : train_windows[i],
                                  valid ? valid_targets[i] : train_targets[i], gradient);
              });
}

}  // namespace quip::train
