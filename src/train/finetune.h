// End-to-end fine-tuning after rounding (QuIP#'s third part; docs/finetune.md): the
// codes stay frozen, the continuous parameters of train/train_model.h are tuned with
// Adam to minimise the KL divergence from the fp32 teacher's next-token distribution on
// calibration windows. One window per step; the learning rate warms up over the first 5%
// of the steps and then follows a cosine to zero. Every `eval_every` steps the mean KL on
// held-out windows is measured and the best parameters so far are kept (what is exported).
#pragma once

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "model/model.h"
#include "train/train_linear.h"
#include "train/train_model.h"

namespace quip::train {

struct FinetuneOptions {
  int steps = 512;
  double lr = 3e-3;
  int eval_every = 64;
  // Teacher log-probabilities are kept for all windows up to this many bytes (else only the
  // current window's). 0 by default: a window is seen once at the default schedule, and the
  // held-out windows' teacher pass costs ~1% of a run while their 4 × ctx × vocab floats
  // (16 MB on books-llama-5m) would be a third of the inference memory (docs/finetune.md).
  int64_t teacher_cache_bytes = 0;
  // When not empty: train/checkpoint.h's state is written here after every step, and a run
  // that finds one of the same options and windows resumes from it.
  std::string checkpoint;
  // QTIP's HYB code: tune the model's table too (train/train_model.h).
  bool tune_code_table = true;
  // > 0: the caller computed the teacher's targets ahead as the top this-many tokens per
  // position (train/teacher_targets.h; train/train_model.h TopKTarget), so the teacher can be freed before
  // tuning (docs/finetune.md, Memory). Recorded in the checkpoint's fingerprint.
  int teacher_top_k = 0;
};

struct FinetuneResult {
  double valid_kl_before = 0, valid_kl_after = 0;  // mean KL on the held-out windows
  int best_step = 0;                               // the step whose parameters were kept
  int steps = 0;
  int resumed_from = 0;                            // steps found in the checkpoint
  double seconds = 0;
  std::vector<double> train_loss;  // per step
};

// Step `step` of `total` finished with `loss` (mean over the step's window); valid_kl is the
// held-out KL when it was measured at this step, else negative.
using FinetuneProgress = std::function<void(int step, int total, double loss, double valid_kl)>;

// Row-wise log-softmax of the teacher's logits on `window` (positions 0, 1, ...): the target.
// The inference forward, with each block's mapped pages dropped after it has run
// (train/teacher_pages.h): about one block of the teacher stays resident.
Mat<float> TeacherLogProbs(const Model& teacher, std::span<const int> window);

// Throws quip::Error naming the teacher when its architecture differs from the student's.
void CheckSameArchitecture(const Model& student, const Model& teacher);

// Tunes `student` (a quantized Model) in place: its norms and quantized linears are replaced
// by the tuned ones. `teacher` must have the same architecture.
FinetuneResult Finetune(Model& student, const Model& teacher, const std::vector<std::vector<int>>& train_windows,
                        const std::vector<std::vector<int>>& valid_windows, const FinetuneOptions& options,
                        const FinetuneProgress& progress = {});
// The same against targets computed ahead (train/teacher_targets.h TeacherTopK of the windows with
// options.teacher_top_k): no teacher needed.
FinetuneResult Finetune(Model& student, const std::vector<TopKTarget>& train_targets,
                        const std::vector<TopKTarget>& valid_targets, const std::vector<std::vector<int>>& train_windows,
                        const std::vector<std::vector<int>>& valid_windows, const FinetuneOptions& options,
                        const FinetuneProgress& progress = {});

}  // namespace quip::train
