#include "model/sampler.h"

#include <algorithm>
#include <cmath>

namespace quip {

Sampler::Sampler(float temperature, float top_p, uint64_t seed)
    : temperature_(temperature), top_p_(top_p), rng_(seed) {}

double Sampler::Uniform() { return double(rng_() >> 11) * 0x1.0p-53; }

int Sampler::Sample(std::span<const float> logits) {
  const int n = static_cast<int>(logits.size());
  if (temperature_ <= 0.0f) return static_cast<int>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  probs_.resize(n);
  double sum = 0.0;
  for (int i = 0; i < n; ++i) {
    probs_[i] = {std::exp((logits[i] - max_logit) / temperature_), i};
    sum += probs_[i].first;
  }
  // Smallest set of most likely tokens whose mass reaches top_p, then sample within it.
  std::sort(probs_.begin(), probs_.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  const double budget = (top_p_ > 0.0f && top_p_ < 1.0f ? top_p_ : 1.0) * sum;
  double kept = 0.0;
  int count = 0;
  while (count < n && (count == 0 || kept < budget)) kept += probs_[count++].first;
  double r = Uniform() * kept;
  for (int i = 0; i < count; ++i) {
    r -= probs_[i].first;
    if (r < 0.0) return probs_[i].second;
  }
  return probs_[count - 1].second;
}

}  // namespace quip
