// QTIP's bitshift trellis and its Viterbi search: the quantizer that rounds a tile of T
// weights (16×16 = 256 in QTIP) to one path through a trellis of 2^L states.
//
// Trellis. A tile's code is a cyclic bitstream of T·K bits (K bits per weight). Step i
// (of T/V, V weights per step) reads the L-bit window starting at bit i·kv (kv = K·V),
// wrapping around the end: that window is the state s_i, and the step's V weights are
// the code's values of s_i (trellis_codes.h). Consecutive states overlap in L − kv bits:
//     s_{i+1} = ((s_i << kv) | next kv bits) mod 2^L,
// so a state has 2^kv successors and 2^kv predecessors, and all successors of a state
// share one predecessor set (the states whose low L − kv bits are the successors' top
// L − kv bits). Viterbi therefore takes, per step, one minimum over the 2^kv
// predecessors for each of the 2^(L−kv) prefixes and one error term per state: O(2^L)
// per step, O(2^L · T/V) per tile.
//
// Tail-biting. Because the stream is cyclic, the first state's top L − kv bits must equal
// the last state's low L − kv bits (the "wrap"); no start bits are stored. The exact
// optimum takes the best of 2^(L−kv) constrained searches; QTIP's two-pass approximation
// (QuantizeTailBiting) searches the tile rotated by half without constraint, reads the
// wrap where the original tile starts, and searches once more with that wrap fixed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace quip::trellis {

class BitshiftTrellis {
 public:
  // `values`: the code's V values of every state (2^state_bits × V, state-major).
  BitshiftTrellis(int state_bits, int bits, int values_per_step, std::vector<float> values);

  int state_bits() const { return state_bits_; }
  int bits() const { return bits_; }
  int values_per_step() const { return v_; }
  int step_bits() const { return bits_ * v_; }
  // Value k (< V) of a state.
  float Value(uint32_t state, int k) const { return values_[k][state]; }

  // The least-squared-error path for x[0, length) (length % V == 0), tail-biting by the
  // two-pass approximation: writes length/V states, returns Σ (x − value)².
  double QuantizeTailBiting(const float* x, int length, uint32_t* states) const;
  // The exact tail-biting optimum: the best of every wrap (2^(L−kv) searches; for tests).
  double QuantizeTailBitingExact(const float* x, int length, uint32_t* states) const;
  // The optimum with the wrap fixed (first state's top and last state's low L − kv bits
  // equal `wrap`), or with free ends for wrap < 0.
  double Viterbi(const float* x, int length, int wrap, uint32_t* states) const;

  // The cyclic bitstream of a tail-biting path (length/V · kv bits, steps ≥ L/kv), MSB
  // first: bit j is bit 31 − j % 32 of word j / 32 (the last word zero-padded), so that
  // state i is bits [i·kv, i·kv + L) read as an integer, wrapping at the end.
  std::vector<uint32_t> Pack(const uint32_t* states, int steps) const;
  // The states of a packed stream of `steps` steps.
  void Unpack(const uint32_t* words, int steps, uint32_t* states) const;

 private:
  int state_bits_, bits_, v_;
  std::vector<float> values_[2];  // value k of every state (V ≤ 2), one array per k for SIMD
};

// Mean squared error per weight of x ↦ scale·Q(x / scale) (Q: QuantizeTailBiting) on
// `tiles` tiles of `length` i.i.d. standard Gaussians from SeededRandom(MixSeed(seed)),
// tiles in parallel.
double GaussianMse(const BitshiftTrellis& trellis, double scale, int tiles, int length, uint64_t seed);

}  // namespace quip::trellis
