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
};

// Called after each window with (done, total).
using ProgressFn = std::function<void(int, int)>;

// `max_windows` <= 0 means all windows. Throws quip::Error (naming `text_name`)
// when the text has fewer than ctx-P tokens. `prefix`: Tokenizer::PrefixIds(); absent: the
// model's BOS (config bos_token_id).
PerplexityResult EvaluatePerplexity(const Model& model, const std::vector<int>& tokens, int ctx, int max_windows,
                                    const std::string& text_name, const ProgressFn& progress = nullptr,
                                    const std::optional<std::vector<int>>& prefix = std::nullopt);

// log-softmax of `logits` at `target`, computed stably in double precision.
double LogProbability(const float* logits, int vocab, int target);

}  // namespace quip
