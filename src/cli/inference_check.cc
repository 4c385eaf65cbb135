#include "cli/inference_check.h"

#include <algorithm>

#include "core/parallel.h"
#include "core/resources.h"

namespace quip {

void CheckInferenceResources(const Model& model, int64_t ctx, int64_t logits_rows) {
  const LlamaConfig& c = model.config;
  InferenceWorkload w;
  w.dim = c.dim, w.hidden_dim = c.hidden_dim, w.q_dim = c.q_dim(), w.kv_dim = c.kv_dim(), w.n_layers = c.n_layers;
  w.vocab_size = c.vocab_size, w.max_seq_len = c.max_seq_len, w.head_dim = c.head_dim;
  w.ctx = std::clamp<int64_t>(ctx, 1, c.max_seq_len);
  w.logits_rows = std::clamp<int64_t>(logits_rows, 1, w.ctx);
  for (const TensorRecord& t : model.tensors) w.weights_bytes += t.bytes;
  w.threads = WorkerThreads();
  CheckResources(EstimateInference(w), model.source, /*out_dir=*/"");
}

}  // namespace quip
