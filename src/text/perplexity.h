// The perplexity protocol of quip (docs/perplexity.md):
//   tokenize the whole text once without BOS; cut the ids into consecutive,
//   non-overlapping windows of ctx-1 tokens (the incomplete tail is dropped);
//   prepend BOS to each window; score the ctx-1 predictions of each window;
//   ppl = exp(total NLL / total scored tokens).
#pragma once

#include <functional>
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
// when the text has fewer than ctx-1 tokens.
PerplexityResult EvaluatePerplexity(const Model& model, const std::vector<int>& tokens, int ctx, int max_windows,
                                    const std::string& text_name, const ProgressFn& progress = nullptr);

// log-softmax of `logits` at `target`, computed stably in double precision.
double LogProbability(const float* logits, int vocab, int target);

}  // namespace quip
