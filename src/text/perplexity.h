// The perplexity protocol of quip (docs/perplexity.md):
//   tokenize the whole text once without BOS; cut the ids into consecutive,
//   non-overlapping windows of ctx-P tokens (the incomplete tail is dropped);
//   prepend the tokenizer's prefix (P ids: BOS for Llama and Gemma, none for Qwen) to each
//   window; score every prediction of a text token within the window (ctx-1 of them with a
//   prefix, ctx-1 without: the first text token has nothing to be predicted from);
//   ppl = exp(total NLL / total scored tokens).
#pragma once

#include <functional>
#include <optional>
#include <vector>

#include "model/model.h"

namespace quip {

struct PerplexityResult {
  double ppl = 0;
  double nll = 0;        // total negative log-likelihood (nats)
  int64_t tokens = 0;    // scored predictions
  int windows = 0;
  double seconds = 0;
  // With a reference model (the fp32 model a quantized one came from), over the same scored
  // positions: Σ KL(reference ‖ model) in nats, its largest term, the reference's own NLL, and
  // the positions where both rank the same token first (llama.cpp's perplexity --kl-divergence).
  // A ratio of perplexities can fall below 1 when a quantized model happens to fit a text
  // better than its original; the KL says how far it is from the original on that text.
  double kl = 0;
  double kl_max = 0;
  double reference_nll = 0;
  int64_t same_top1 = 0;
};

// Called after each window with (done, total).
using ProgressFn = std::function<void(int, int)>;

// `max_windows` <= 0 means all windows. Throws quip::Error (naming `text_name`)
// when the text has fewer than ctx-P tokens. `prefix`: Tokenizer::PrefixIds(); absent: the
// model's BOS (config bos_token_id). `reference` (optional) runs on the same windows and fills
// the KL fields; it must have the model's vocabulary (quip::Error naming it otherwise).
PerplexityResult EvaluatePerplexity(const Model& model, const std::vector<int>& tokens, int ctx, int max_windows,
                                    const std::string& text_name, const ProgressFn& progress = nullptr,
                                    const std::optional<std::vector<int>>& prefix = std::nullopt,
                                    const Model* reference = nullptr);

// log-softmax of `logits` at `target`, computed stably in double precision.
double LogProbability(const float* logits, int vocab, int target);

// KL(p ‖ q) = Σ_v p_v (log p_v − log q_v) for p = softmax(`p_logits`), q = softmax(`q_logits`),
// in double precision.
double KlDivergence(const float* p_logits, const float* q_logits, int vocab);

}  // namespace quip
