// The whole model in training form (embedding lookup frozen, the blocks of
// train/train_block.h, final RMSNorm and the head) with the loss of fine-tuning: the
// KL divergence from a teacher's next-token distribution, averaged over the window's tokens.
#pragma once

#include <span>
#include <vector>

#include "model/model.h"
#include "train/train_block.h"

namespace quip::train {

template <typename T>
class TrainModel {
 public:
  // `max_tokens`: the longest window (RoPE table).
  TrainModel(const Model& model, int max_tokens);

  // Logits [ntok, vocab] of the window `tokens` (positions 0, 1, ...).
  void Logits(std::span<const int> tokens, Mat<T>& logits);
  // Mean over tokens of KL(teacher ‖ model), teacher_log_probs [ntok, vocab] (log-softmax of
  // the teacher's logits); with `gradient`, adds the parameters' gradients.
  double Loss(std::span<const int> tokens, const Mat<float>& teacher_log_probs, bool gradient);

  std::vector<Param<T>*> Params();
  void ZeroGrad();
  // After the parameters changed.
  void Refresh();
  // The tuned parameters into `model`, the Model this was built from (or a fresh load of
  // the same folder): norms and quantized linears; dense layers and embeddings are unchanged.
  void ExportTo(Model& model) const;

 private:
  const Model& model_;
  RopeTable<T> rope_;
  std::vector<TrainBlock<T>> blocks_;
  Param<T> final_norm_;
  TrainLinear<T> head_;
  // Activations of the last forward pass.
  std::vector<typename TrainBlock<T>::Saved> saved_;
  Mat<T> x_final_, normed_final_;
  std::vector<T> inv_rms_final_;
  typename TrainLinear<T>::Saved head_saved_;
};

// Row-wise log-softmax of logits [ntok, vocab], in double.
Mat<float> LogSoftmax(const float* logits, int ntok, int vocab);

}  // namespace quip::train
