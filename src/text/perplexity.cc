#include "text/perplexity.h"

#include <chrono>
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
                                    const std::string& text_name, const ProgressFn& progress) {
  const auto start = std::chrono::steady_clock::now();
  QUIP_CHECK_INPUT(ctx >= 2, text_name, "--ctx {} is too small (need at least 2)", ctx);
  QUIP_CHECK_INPUT(ctx <= model.config.max_seq_len, model.source,
                   "--ctx {} is longer than the model's max_position_embeddings {}", ctx, model.config.max_seq_len);
  const int span = ctx - 1;
  int windows = static_cast<int>(tokens.size() / span);
  QUIP_CHECK_INPUT(windows > 0, text_name, "text has {} tokens, fewer than one window of {} (ctx {} - 1)",
                   tokens.size(), span, ctx);
  if (max_windows > 0) windows = std::min(windows, max_windows);

  const int vocab = model.config.vocab_size;
  Session session(model, ctx);
  std::vector<int> input(ctx);
  PerplexityResult result;
  for (int w = 0; w < windows; ++w) {
    input[0] = model.config.bos_id;
    std::copy_n(tokens.begin() + size_t(w) * span, span, input.begin() + 1);
    session.Reset();
    const std::span<const float> logits = session.Feed(input, /*all_logits=*/true);
    // Position i predicts input[i + 1]; the last position predicts nothing in this window.
    for (int i = 0; i < span; ++i) result.nll -= LogProbability(&logits[size_t(i) * vocab], vocab, input[i + 1]);
    result.tokens += span;
    if (progress) progress(w + 1, windows);
  }
  result.windows = windows;
  result.ppl = std::exp(result.nll / double(result.tokens));
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace quip
