// The state of a fine-tuning run after a step, written after every step (one safetensors
// file, replaced atomically) so that an interrupted run resumes losing at most the step in
// progress: the parameters, Adam's moments, the best parameters on the held-out windows so
// far and the losses. `fingerprint` ties it to the run's options and windows.
#pragma once

#include <string>
#include <vector>

namespace quip::train {

struct FinetuneCheckpoint {
  std::string fingerprint;
  int step = 0;  // steps done
  std::vector<std::string> names;                      // per parameter tensor, in order
  std::vector<std::vector<float>> value, m, v, best;  // per parameter tensor
  double valid_kl_before = 0, valid_kl_best = 0;
  int best_step = 0;
  std::vector<double> train_loss;
};

void WriteCheckpoint(const std::string& path, const FinetuneCheckpoint& c);
// Throws quip::Error naming `path` when it is not such a checkpoint.
FinetuneCheckpoint ReadCheckpoint(const std::string& path);

}  // namespace quip::train
