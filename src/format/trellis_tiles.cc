#include "format/trellis_tiles.h"

#include "core/error.h"

namespace quip::trellis {

void StreamStates(const uint32_t* words, int steps, int step_bits, int state_bits, uint32_t* states) {
  const int64_t nbits = int64_t(steps) * step_bits;
  QUIP_ASSERT(nbits >= state_bits && state_bits <= 32);
  if (nbits % 32 == 0) {  // whole words (every stored tile): a window spans at most two of them
    const int64_t nwords = nbits / 32;
    for (int i = 0; i < steps; ++i) {
      const int64_t b = int64_t(i) * step_bits, w = b / 32;
      const uint64_t pair = uint64_t(words[w]) << 32 | words[(w + 1) % nwords];
      states[i] = uint32_t(pair >> (64 - b % 32 - state_bits)) & ((uint64_t(1) << state_bits) - 1);
    }
    return;
  }
  auto bit = [&](int64_t j) {
    j %= nbits;
    return (words[j / 32] >> (31 - j % 32)) & 1;
  };
  for (int i = 0; i < steps; ++i) {
    uint32_t state = 0;
    for (int b = 0; b < state_bits; ++b) state = (state << 1) | bit(int64_t(i) * step_bits + b);
    states[i] = state;
  }
}

void DecodeTileReference(const uint32_t* words, int bits, Code code, const float* hyb_table, float scale,
                         float* weights) {
  const int v = ValuesPerState(code), steps = kTileWeights / v;
  QUIP_ASSERT(bits >= 1 && bits <= 4 && (code != Code::kHyb || hyb_table != nullptr));
  uint32_t states[kTileWeights];
  StreamStates(words, steps, bits * v, kStateBits, states);
  for (int s = 0; s < steps; ++s) {
    float values[2];
    switch (code) {
      case Code::k1Mad: values[0] = Decode1Mad(states[s]); break;
      case Code::k3Inst: values[0] = Decode3Inst(states[s]); break;
      case Code::kHyb: DecodeHyb(states[s], hyb_table, values); break;
      case Code::kHash6: values[0] = DecodeHash6(states[s]); break;
      case Code::kXor7: values[0] = DecodeXor7(states[s]); break;
    }
    for (int k = 0; k < v; ++k) weights[s * v + k] = scale * values[k];
  }
}

void HybTileEntries(const uint32_t* words, int bits, uint16_t* entries) {
  constexpr int kSteps = kTileWeights / 2;
  uint32_t states[kSteps];
  StreamStates(words, kSteps, bits * 2, kStateBits, states);
  for (int s = 0; s < kSteps; ++s) {
    const uint16_t row = uint16_t(HybRow(states[s]));
    entries[2 * s] = uint16_t(2 * row) | (HybNegated(states[s]) ? kHybNegated : 0);
    entries[2 * s + 1] = uint16_t(2 * row + 1);
  }
}

}  // namespace quip::trellis
