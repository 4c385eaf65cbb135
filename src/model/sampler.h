// Picks the next token from logits: greedy at temperature 0, otherwise nucleus
// (top-p) sampling at the given temperature with a seeded, portable RNG.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace quip {

class Sampler {
 public:
  Sampler(float temperature, float top_p, uint64_t seed);
  int Sample(std::span<const float> logits);

 private:
  double Uniform();  // [0, 1) from 53 random bits, identical on every platform
  float temperature_;
  float top_p_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int>> probs_;
};

}  // namespace quip
