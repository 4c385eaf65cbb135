#include "quant/bitshift_trellis.h"

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "core/parallel.h"
#include "format/trellis_tiles.h"
#include "quant/bitshift_trellis_simd.h"
#include "format/seeded_random.h"

namespace quip::trellis {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

// Per-thread search buffers (tiles run in parallel on the pool).
struct Scratch {
  std::vector<float> cost, next, best;
  std::vector<uint8_t> back;  // [step][prefix]: the predecessor's top kv bits
};
Scratch& LocalScratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

BitshiftTrellis::BitshiftTrellis(int state_bits, int bits, int values_per_step, std::vector<float> values)
    : state_bits_(state_bits), bits_(bits), v_(values_per_step) {
  QUIP_ASSERT(v_ >= 1 && bits_ >= 1 && step_bits() <= 8 && step_bits() < state_bits_ && state_bits_ <= 24);
  QUIP_ASSERT(values.size() == size_t(v_) << state_bits_);
  QUIP_ASSERT(v_ <= 2);
  for (int k = 0; k < v_; ++k) {
    values_[k].resize(size_t(1) << state_bits_);
    for (size_t st = 0; st < values_[k].size(); ++st) values_[k][st] = values[st * v_ + k];
  }
}

double BitshiftTrellis::Viterbi(const float* x, int length, int wrap, uint32_t* states) const {
  const int L = state_bits_, kv = step_bits(), steps = length / v_;
  QUIP_ASSERT(length % v_ == 0 && steps >= 1);
  const uint32_t num_states = 1u << L, num_prefixes = 1u << (L - kv), fan = 1u << kv;
  QUIP_ASSERT(wrap < int(num_prefixes));
  Scratch& s = LocalScratch();
  s.cost.resize(num_states);
  s.next.resize(num_states);
  s.best.resize(num_prefixes);
  s.back.resize(size_t(steps) * num_prefixes);
  float* cost = s.cost.data();
  float* next = s.next.data();
  float* best = s.best.data();

  const float* components[2] = {values_[0].data(), v_ > 1 ? values_[1].data() : nullptr};
  auto add_errors = [&](const float* xt, const float* base, float* out) {
    simd::AddErrors(components, v_, xt, base, num_prefixes, fan, out);
  };

  // Step 0: with a wrap, only states whose top L − kv bits are the wrap.
  std::fill(best, best + num_prefixes, wrap < 0 ? 0.0f : kInf);
  if (wrap >= 0) best[wrap] = 0.0f;
  add_errors(x, best, cost);

  for (int t = 1; t < steps; ++t) {
    uint8_t* back = &s.back[size_t(t) * num_prefixes];
    // The best predecessor of each prefix q: states (h << (L − kv)) | q, h < 2^kv.
    for (uint32_t q = 0; q < num_prefixes; ++q) best[q] = cost[q], back[q] = 0;
    for (uint32_t h = 1; h < fan; ++h) {
      const float* c = cost + size_t(h) * num_prefixes;
      for (uint32_t q = 0; q < num_prefixes; ++q) {
        const bool better = c[q] < best[q];  // ties keep the smaller h
        best[q] = better ? c[q] : best[q];
        back[q] = better ? uint8_t(h) : back[q];
      }
    }
    add_errors(x + size_t(t) * v_, best, next);
    std::swap(cost, next);
  }

  // The last state: with a wrap, only states whose low L − kv bits are the wrap.
  uint32_t last = 0;
  float total = kInf;
  if (wrap < 0) {
    for (uint32_t st = 0; st < num_states; ++st)
      if (cost[st] < total) total = cost[st], last = st;
  } else {
    for (uint32_t h = 0; h < fan; ++h) {
      const uint32_t st = (h << (L - kv)) | uint32_t(wrap);
      if (cost[st] < total) total = cost[st], last = st;
    }
  }
  states[steps - 1] = last;
  for (int t = steps - 1; t >= 1; --t) {
    const uint32_t q = states[t] >> kv;
    states[t - 1] = (uint32_t(s.back[size_t(t) * num_prefixes + q]) << (L - kv)) | q;
  }
  return double(total);
}

double BitshiftTrellis::QuantizeTailBiting(const float* x, int length, uint32_t* states) const {
  const int steps = length / v_, kv = step_bits();
  QUIP_ASSERT(steps * kv >= state_bits_);
  // Rotate by half the tile: the original start sits in the middle of the first search,
  // far from its free ends.
  const int half = steps / 2;
  std::vector<float> rolled(length);
  for (int i = 0; i < length; ++i) rolled[(i + half * v_) % length] = x[i];
  std::vector<uint32_t> first(steps);
  Viterbi(rolled.data(), length, -1, first.data());
  const int wrap = int(first[half] >> kv);
  return Viterbi(x, length, wrap, states);
}

double BitshiftTrellis::QuantizeTailBitingExact(const float* x, int length, uint32_t* states) const {
  const int steps = length / v_;
  std::vector<uint32_t> candidate(steps);
  double best = std::numeric_limits<double>::infinity();
  for (int wrap = 0; wrap < (1 << (state_bits_ - step_bits())); ++wrap) {
    const double e = Viterbi(x, length, wrap, candidate.data());
    if (e < best) best = e, std::copy(candidate.begin(), candidate.end(), states);
  }
  return best;
}

std::vector<uint32_t> BitshiftTrellis::Pack(const uint32_t* states, int steps) const {
  const int kv = step_bits(), L = state_bits_;
  const int64_t nbits = int64_t(steps) * kv;
  QUIP_ASSERT(nbits >= L);
  std::vector<uint32_t> words((nbits + 31) / 32, 0u);
  auto set = [&](int64_t j, uint32_t bit) { words[j / 32] |= bit << (31 - j % 32); };
  // The first state gives bits [0, L); each later one its kv new (low) bits. The last
  // L − kv of those run past the end and are the first state's top bits again (checked).
  for (int b = 0; b < L; ++b) set(b, (states[0] >> (L - 1 - b)) & 1);
  for (int i = 1; i < steps; ++i) {
    QUIP_ASSERT((states[i] >> kv) == (states[i - 1] & ((1u << (L - kv)) - 1)));
    for (int b = 0; b < kv; ++b) {
      const int64_t j = int64_t(L) + int64_t(i - 1) * kv + b;
      const uint32_t bit = (states[i] >> (kv - 1 - b)) & 1;
      if (j < nbits) {
        set(j, bit);
      } else {
        QUIP_ASSERT(bit == ((states[0] >> (L - 1 - (j - nbits))) & 1));  // tail-biting
      }
    }
  }
  return words;
}

void BitshiftTrellis::Unpack(const uint32_t* words, int steps, uint32_t* states) const {
  StreamStates(words, steps, step_bits(), state_bits_, states);
}

double GaussianMse(const BitshiftTrellis& trellis, double scale, int tiles, int length, uint64_t seed) {
  std::vector<float> x(size_t(tiles) * length);
  SeededRandom rng(MixSeed(seed));
  for (float& v : x) v = float(rng.Gaussian() / scale);
  std::vector<double> error(tiles);
  ParallelFor(tiles, [&](int64_t i) {
    std::vector<uint32_t> states(length / trellis.values_per_step());
    error[i] = trellis.QuantizeTailBiting(&x[size_t(i) * length], length, states.data());
  });
  double sum = 0;
  for (double e : error) sum += e;  // in tile order: the same sum at any thread count
  return sum * scale * scale / (double(tiles) * length);
}

}  // namespace quip::trellis
