// Random numbers that must be identical on every machine: the incoherence
// transforms are not stored in the model, only their seeds, so the quantizer and
// every later inference run must regenerate exactly the same matrices.
// std::normal_distribution (and std::log on some libms) is implementation-defined,
// so Gaussians are built here from mt19937_64 bits with basic arithmetic only;
// seeded_random.cc is compiled with -ffp-contract=off so no FMA changes a bit.
#pragma once

#include <cstdint>
#include <random>

namespace quip {

// SplitMix64 finaliser: turns related seeds (seed, seed+1, ...) into unrelated ones.
uint64_t MixSeed(uint64_t x);

class SeededRandom {
 public:
  explicit SeededRandom(uint64_t seed) : rng_(seed) {}

  uint64_t Bits() { return rng_(); }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform();
  // Uniform integer in [0, n), n > 0 (multiply-shift: deterministic, bias < n / 2^64).
  uint64_t Below(uint64_t n);
  // Standard normal (Marsaglia's polar form of Box–Muller: needs only log and sqrt).
  double Gaussian();

 private:
  std::mt19937_64 rng_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

// Natural log for x > 0 from frexp and an atanh series: the same bits on every CPU.
double PortableLog(double x);

}  // namespace quip
