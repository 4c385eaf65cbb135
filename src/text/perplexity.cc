#include "text/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>

#include "core/error.h"
#include "model/forward.h"

namespace quip {

namespace {

// log Σ_v exp(logits[v]) = max_logit + log_shifted_sum, in double.
struct LogSumExp {
  double max_logit = 0, log_shifted_sum = 0;
  double Value() const { return max_logit + log_shifted_sum; }
};

LogSumExp LogSumExpOf(const float* logits, int vocab) {
  LogSumExp r;
  r.max_logit = *std::max_element(logits, logits + vocab);
  double sum = 0.0;
  for (int i = 0; i < vocab; ++i) sum += std::exp(double(logits[i]) - r.max_logit);
  r.log_shifted_sum = std::log(sum);
  return r;
}

double LogProbabilityGivenNorm(const float* logits, const LogSumExp& norm, int target) {
  return double(logits[target]) - norm.max_logit - norm.log_shifted_sum;
}

// KL(p ‖ q) from both rows' log-sum-exp, so that a caller that also scores the rows' targets
// computes each normaliser once.
double KlDivergenceGivenNorms(const float* p_logits, const LogSumExp& p_lse, const float* q_logits,
                              const LogSumExp& q_lse, int vocab) {
  const double p_norm = p_lse.Value(), q_norm = q_lse.Value();
  double kl = 0.0;
  for (int i = 0; i < vocab; ++i) {
    const double log_p = double(p_logits[i]) - p_norm, log_q = double(q_logits[i]) - q_norm;
    kl += std::exp(log_p) * (log_p - log_q);
  }
  return std::max(kl, 0.0);  // ≥ 0 in exact arithmetic; rounding can leave -1e-17 for equal rows
}

}  // namespace

double LogProbability(const float* logits, int vocab, int target) {
  return LogProbabilityGivenNorm(logits, LogSumExpOf(logits, vocab), target);
}

double KlDivergence(const float* p_logits, const float* q_logits, int vocab) {
  return KlDivergenceGivenNorms(p_logits, LogSumExpOf(p_logits, vocab), q_logits, LogSumExpOf(q_logits, vocab), vocab);
}

PerplexityResult EvaluatePerplexity(const Model& model, const std::vector<int>& tokens, int ctx, int max_windows,
                                    const std::string& text_name, const ProgressFn& progress,
                                    const std::optional<std::vector<int>>& prefix_ids, const Model* reference) {
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
  if (reference)
    QUIP_CHECK_INPUT(reference->config.vocab_size == vocab, reference->source,
                     "the reference model has {} tokens in its vocabulary, the model {}: they cannot be compared",
                     reference->config.vocab_size, vocab);
  Session session(model, ctx);
  std::optional<Session> reference_session;
  if (reference) reference_session.emplace(*reference, ctx);
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
    std::span<const float> ref_logits;
    if (reference_session) {
      reference_session->Reset();
      ref_logits = reference_session->Feed(input, /*all_logits=*/true);
    }
    for (int i = first; i < ctx - 1; ++i) {
      const float* q = &logits[size_t(i) * vocab];
      const LogSumExp q_lse = LogSumExpOf(q, vocab);
      result.nll -= LogProbabilityGivenNorm(q, q_lse, input[i + 1]);
      if (reference_session) {
        const float* p = &ref_logits[size_t(i) * vocab];
        const LogSumExp p_lse = LogSumExpOf(p, vocab);
        result.reference_nll -= LogProbabilityGivenNorm(p, p_lse, input[i + 1]);
        const double kl = KlDivergenceGivenNorms(p, p_lse, q, q_lse, vocab);
        result.kl += kl;
        result.kl_max = std::max(result.kl_max, kl);
        result.same_top1 += std::max_element(p, p + vocab) - p == std::max_element(q, q + vocab) - q;
      }
    }
    result.tokens += ctx - 1 - first;
    if (progress) progress(w + 1, windows);
  }
  result.windows = windows;
  result.ppl = std::exp(result.nll / double(result.tokens));
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace quip
