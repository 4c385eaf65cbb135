#include "text/perplexity.h"

#include <chrono>
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "model/forward.h"

namespace quip {

double LogProbability(const float* logits, int vocab, int target) {
  double max_logit = logits[0];
  for (int i = 1; i < vocab; ++i) max_logit = std::max(max_logit, double(logits[i]));
  double sum = 0.0;
  for (int i = 0; i < vocab; ++i) sum += std::exp(double(logits[i]) - max_logit);
  return double(logits[target]) - max_logit - std::log(sum);
}

PerplexityResult EvaluatePerplexity(const Model& model, const std::vector<int>& tokens, int ctx, int max_windows,
                                    const std::string& text_name, const ProgressFn& progress,
                                    const std::optional<std::vector<int>>& prefix_ids) {
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int> prefix = prefix_ids ? *prefix_ids : std::vector<int>{model.config.bos_id};
  const int n_prefix = int(prefix.size());
  const int min_ctx = std::max(2, n_prefix + 1);  // at least one scored prediction
  QUIP_CHECK_INPUT(ctx >= min_ctx, text_name, "--ctx {} is too small (need at least {})", ctx, min_ctx);
  QUIP_CHECK_INPUT(ctx <= model.config.max_seq_len, model.source,
                   "--ctx {} is longer than the model's max_position_embeddings {}", ctx, model.config.max_seq_len);
  const int span = ctx - n_prefix;  // text tokens per window
  int windows = static_cast<int>(tokens.size() / span);
  QUIP_CHECK_INPUT(windows > 0, text_name, "text has {} tokens, fewer than one window of {} (ctx {} - {})",
                   tokens.size(), span, ctx, n_prefix);
  if (max_windows > 0) windows = std::min(windows, max_windows);

  const int vocab = model.config.vocab_size;
  Session session(model, ctx);
  std::vector<int> input(ctx);
  std::copy(prefix.begin(), prefix.end(), input.begin());
  // Position i predicts input[i + 1]: from the last prefix position, or without a prefix from
  // the first text token; the last position predicts nothing in this window.
  const int first = std::max(n_prefix - 1, 0);
  PerplexityResult result;
  for (int w = 0; w < windows; ++w) {
    std::copy_n(tokens.begin() + size_t(w) * span, span, input.begin() + n_prefix);
    session.Reset();
    const std::span<const float> logits = session.Feed(input, /*all_logits=*/true);
    for (int i = first; i < ctx - 1; ++i) result.nll -= LogProbability(&logits[size_t(i) * vocab], vocab, input[i + 1]);
    result.tokens += ctx - 1 - first;
    if (progress) progress(w + 1, windows);
  }
  result.windows = windows;
  result.ppl = std::exp(result.nll / double(result.tokens));
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace quip
