// A transformer block in training form: the forward pass of model/forward.cc's RunBlock
// (RMSNorm, RoPE attention with GQA and the causal mask, SwiGLU MLP) over one window that
// starts at position 0, keeping the activations, and its backward pass.
// tests/train/ checks the forward against RunBlock and every gradient against finite
// differences.
#pragma once

#include <vector>

#include "model/config.h"
#include "model/model.h"
#include "train/train_linear.h"

namespace quip::train {

// cos and sin of RoPE's angles, [position][head_dim / 2], as ForwardScratch builds them.
template <typename T>
struct RopeTable {
  RopeTable(const LlamaConfig& c, int positions);
  int half;
  std::vector<T> cos, sin;
};

template <typename T>
class TrainBlock {
 public:
  struct Saved {
    Mat<T> x_in, n1, q, k, v, attn, x_mid, n2, gate, up, hidden;
    std::vector<T> inv_rms1, inv_rms2;
    std::vector<Mat<T>> probs;  // attention probabilities per query head, [ntok, ntok]
    typename TrainLinear<T>::Saved lq, lk, lv, lo, lgate, lup, ldown;
  };

  // `code_table`: the model's tuned HYB table (train/train_linear.h), or null.
  TrainBlock(const LlamaConfig& c, const LayerWeights& w, const std::string& prefix, Param<T>* code_table = nullptr);

  // x [ntok, dim] ← block(x), keeping what Backward needs.
  void Forward(Mat<T>& x, Saved& s, const RopeTable<T>& rope) const;
  // dx: ∂L/∂(block output) in, ∂L/∂(block input) out; parameter gradients accumulate.
  void Backward(Mat<T>& dx, const Saved& s, const RopeTable<T>& rope);
  std::vector<Param<T>*> Params();
  std::vector<const TrainLinear<T>*> Linears() const { return {&q_, &k_, &v_, &o_, &gate_, &up_, &down_}; }
  // Writes the tuned norms and quantized linears into `w` (norm storage kept by `owners`).
  void ExportTo(LayerWeights& w, std::vector<StorageOwner>& owners) const;

 private:
  LlamaConfig c_;
  Param<T> attn_norm_, ffn_norm_;
  TrainLinear<T> q_, k_, v_, o_, gate_, up_, down_;
};

// out = RMSNorm(x) · gain per row, as model/forward.cc (sum of squares in double).
template <typename T>
void RmsNormForward(const Mat<T>& x, const std::vector<T>& gain, float eps, Mat<T>& out, std::vector<T>& inv_rms);
// Adds ∂L/∂x to dx and ∂L/∂gain to gain_grad.
template <typename T>
void RmsNormBackward(const Mat<T>& x, const std::vector<T>& gain, const std::vector<T>& inv_rms, const Mat<T>& dout,
                     Mat<T>& dx, std::vector<T>& gain_grad);

}  // namespace quip::train
