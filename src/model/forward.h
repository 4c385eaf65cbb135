// The Llama forward pass over the in-memory Model.
//
// One code path serves both prompt evaluation (many tokens: matrix-matrix products)
// and decoding (one token: matrix-vector products); the Linear layers pick BLAS
// gemm or gemv by the number of tokens. Keys and values of every position fed so
// far live in the KV cache, so a Session continues where the last Feed stopped.
#pragma once

#include <functional>
#include <span>
#include <vector>

#include "model/model.h"

namespace quip {

// Keys and values of one sequence: [layer][slot][kv_dim], fp32, for positions [0, capacity).
// Normally one slot per position. When every layer attends through the same sliding window
// (Mistral, Phi-3) and batches are at most `max_batch` tokens, a batch's queries read only its
// own positions and the window - 1 before it: the cache then keeps window - 1 + max_batch slots,
// and MakeRoom moves the live positions to the front when the next batch would not fit (each
// position is moved about once per max_batch tokens; attention reads them contiguously).
class KvCache {
 public:
  // Slots for `layers` layers (default: all of the model's; calibration, which runs one
  // block at a time, keeps one and runs every block in slot 0). max_batch 0: one slot per position.
  KvCache(const LlamaConfig& config, int capacity, int layers = -1, int max_batch = 0);
  int capacity() const { return capacity_; }
  int slots() const { return slots_; }
  float* key(int layer, int pos) { return &keys_[Offset(layer, pos)]; }
  float* value(int layer, int pos) { return &values_[Offset(layer, pos)]; }
  // Before positions [pos0, pos0 + ntok) are fed (pos0 0: a new sequence).
  void MakeRoom(int pos0, int ntok);

 private:
  size_t Offset(int layer, int pos) const { return (size_t(layer) * slots_ + (pos - base_)) * kv_dim_; }
  int capacity_;
  int kv_dim_;
  int layers_;
  int window_ = 0;  // the window of every layer, 0 when the cache keeps every position
  int slots_;
  int base_ = 0;    // position held in slot 0
  std::vector<float> keys_, values_;
};

// Called with the input of each linear layer of a block, before it is applied.
// Calibration uses it to accumulate Hessians; it is null in plain inference.
enum class LinearInput { kQkv, kO, kGateUp, kDown };
class LinearInputObserver {
 public:
  virtual ~LinearInputObserver() = default;
  virtual void Observe(int layer, LinearInput which, const float* x, int ntok, int width) = 0;
  // True when nothing after `which` is needed: RunBlock then returns at once and
  // leaves x partly updated (calibration runs on a scratch copy).
  virtual bool StopAfter(LinearInput /*which*/) const { return false; }
};

// Reusable buffers for a batch of up to `max_tokens` tokens.
struct ForwardScratch {
  ForwardScratch(const LlamaConfig& c, int max_tokens);
  int max_tokens;
  std::vector<float> normed, q, k, v, attn, gate, up, hidden;
  std::vector<float> fused;  // output of a fused qkv_proj or gate_up_proj (empty without them)
  std::vector<float> rope_cos, rope_sin;  // [max_seq_len][head_dim/2]
  std::vector<float> local_rope_cos, local_rope_sin;  // the same for LlamaConfig::rope_local_theta
};

// Applies transformer block `layer` to the residual stream x [ntok, dim] in place;
// tokens sit at positions [pos0, pos0 + ntok) and see cache positions [0, pos + 1), or with a
// sliding window only the last w.sliding_window of them.
void RunBlock(const Model& model, int layer, float* x, int ntok, int pos0, KvCache& cache, ForwardScratch& scratch,
              LinearInputObserver* observer = nullptr);
// The same with the block's weights given: calibration runs the original block next
// to the one being quantized. `layer` selects the KV cache slot and is passed to the observer.
// `from` other than kQkv continues a run that an observer stopped after that input
// (StopAfter), from the state it left: x (for kGateUp and kDown the residual after
// attention) and, for kO, the attention output in scratch.attn, for kDown the gated
// activation in scratch.gate. Calibration thus runs each part of a block once while the
// block's linears are replaced stage by stage (pipeline/calibration_streams.h).
void RunBlock(const LlamaConfig& c, const LayerWeights& w, int layer, float* x, int ntok, int pos0, KvCache& cache,
              ForwardScratch& scratch, LinearInputObserver* observer = nullptr, LinearInput from = LinearInput::kQkv);

// x [ntok, dim] = embedding rows of tokens (ids checked against the vocabulary).
void Embed(const Model& model, std::span<const int> tokens, float* x);

// Final RMSNorm and lm_head: logits [ntok, vocab] from the residual stream x [ntok, dim].
void ComputeLogits(const Model& model, const float* x, int ntok, float* normed_scratch, float* logits);

// One sequence being evaluated or generated.
class Session {
 public:
  // `capacity`: most positions this session will hold (<= max_seq_len).
  Session(const Model& model, int capacity);

  // Feeds tokens at positions [position(), position() + n) and returns logits:
  // [n, vocab] when all_logits, else only the last token's [vocab]. `after_block`, when set, is
  // called with each layer's index once that block has run on a batch of tokens (fine-tuning's
  // teacher drops the block's pages there: train/teacher_pages.h).
  std::span<const float> Feed(std::span<const int> tokens, bool all_logits,
                              const std::function<void(int layer)>& after_block = {});
  int position() const { return position_; }
  void Reset() { position_ = 0; }

 private:
  const Model& model_;
  KvCache cache_;
  ForwardScratch scratch_;
  std::vector<float> x_, logits_;
  int position_ = 0;
};

// Sets the worker threads of BLAS and of our own parallel loops (0 = all cores; more
// than the hardware threads are capped, with a note: core/parallel.h).
void SetThreads(int threads);

}  // namespace quip
