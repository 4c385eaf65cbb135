// The whole model in training form (embedding lookup frozen, the blocks of
// train/train_block.h, final RMSNorm and the head) with the loss of fine-tuning: the
// KL divergence from a teacher's next-token distribution, averaged over the window's tokens.
#pragma once

#include <span>
#include <vector>

#include "model/model.h"
#include "train/train_block.h"

namespace quip::train {

// A teacher's next-token distributions kept compactly (docs/finetune.md, Memory): per token
// its k most likely tokens' log-probabilities and the log of the rest of the mass (−inf when
// there is none). Fine-tuning on it minimises the KL divergence between the two distributions
// coarsened to those k tokens and one bucket for all others.
struct TopKTarget {
  int k = 0;
  std::vector<int32_t> ids;      // [ntok · k]
  std::vector<float> log_probs;  // [ntok · k]
  std::vector<float> log_rest;   // [ntok]
  int tokens() const { return int(log_rest.size()); }
  int64_t bytes() const { return int64_t(ids.size() + log_probs.size() + log_rest.size()) * 4; }
};
// The k largest of each row of log_probs [ntok, vocab] (log-softmax rows), ties to the lower id.
TopKTarget TopK(const Mat<float>& log_probs, int k);

template <typename T>
class TrainModel {
 public:
  TrainModel(const TrainModel&) = delete;
  TrainModel& operator=(const TrainModel&) = delete;
  // `max_tokens`: the longest window (RoPE table). `checkpoint_blocks`: keep only each
  // block's input during the forward pass and recompute the block's activations in the
  // backward pass (one block's activations live at a time instead of all of them; one more
  // forward pass of every block but the last; the same gradient bit for bit).
  // `tune_code_table`: a model quantized with QTIP's HYB code has its table (one per model,
  // shared by every HYB layer) as one more parameter tensor, kHybTableParam; else it stays frozen.
  TrainModel(const Model& model, int max_tokens, bool checkpoint_blocks = true, bool tune_code_table = true);

  // Logits [ntok, vocab] of the window `tokens` (positions 0, 1, ...).
  void Logits(std::span<const int> tokens, Mat<T>& logits);
  // Mean over tokens of KL(teacher ‖ model), teacher_log_probs [ntok, vocab] (log-softmax of
  // the teacher's logits); with `gradient`, adds the parameters' gradients.
  double Loss(std::span<const int> tokens, const Mat<float>& teacher_log_probs, bool gradient);
  // The same against compact targets: mean over tokens of KL(teacher ‖ model) over the target's
  // k tokens and one bucket for the rest.
  double Loss(std::span<const int> tokens, const TopKTarget& teacher, bool gradient);

  // The blocks' tensors, the final norm, the head's (none: it is dense), then the HYB table.
  std::vector<Param<T>*> Params();
  // Every linear layer, blocks first, then the head.
  std::vector<const TrainLinear<T>*> Linears() const;
  void ZeroGrad();
  // The tuned parameters into `model`, the Model this was built from (or a fresh load of
  // the same folder): norms and quantized linears; dense layers and embeddings are unchanged.
  void ExportTo(Model& model) const;

 private:
  const Model& model_;
  RopeTable<T> rope_;
  Param<T> code_table_;  // empty unless tuned; the linears point at it (this is not movable)
  std::vector<TrainBlock<T>> blocks_;
  Param<T> final_norm_;
  TrainLinear<T> head_;
  // Activations of the last forward pass: every block's (saved_), or with checkpointing
  // every block's input (block_inputs_) and the last block's activations (saved_[0]).
  bool checkpoint_;
  std::vector<typename TrainBlock<T>::Saved> saved_;
  std::vector<Mat<T>> block_inputs_;
  Mat<T> x_final_, normed_final_;
  std::vector<T> inv_rms_final_;
  typename TrainLinear<T>::Saved head_saved_;
  // The gradient from ∂L/∂logits (after Logits on the same window).
  void Backward(const Mat<T>& dlogits);
};

// The HYB table's parameter name: the file's tensor (io/quip_format.cc).
inline constexpr const char* kHybTableParam = "quip.hyb_table";

// Row-wise log-softmax of logits [ntok, vocab], in double.
Mat<float> LogSoftmax(const float* logits, int ntok, int vocab);

}  // namespace quip::train
