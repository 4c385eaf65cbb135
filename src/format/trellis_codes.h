// QTIP's computed codes (Tseng et al. 2024, "QTIP: Quantization with Trellises and
// Incoherence Processing"): the value(s) a bitshift-trellis state stands for, generated
// from the L = 16-bit state by a few integer instructions instead of a 2^16-entry table.
// Each code is close to i.i.d. N(0, 1) over the states, which is what incoherence
// processing makes the weights.
//
//   1MAD   (V = 1) x = 34038481·s + 76625530 mod 2^32; the sum of x's four bytes is a
//          near-Gaussian integer (mean 510, std 147.8); value = (sum − 510) / 147.8005.
//   3INST  (V = 1) x = 89226354·s + 64248484 mod 2^32; each 16-bit half keeps its sign bit
//          and low 12 bits, XORed into the pattern 0x3B60, and is read as an IEEE half
//          (a sign, exponents 2^-3..2^0, a mantissa); value = the sum of the two halves.
//   HYB    (V = 2) h = (s + 1)·s mod 2^32; bits 6..14 of h index a 2^9 × 2 table fit by
//          k-means to a 2-D Gaussian (stored with the model), bit 15 flips the sign of the
//          pair's first value.
//   HASH6  (V = 1) not QTIP's: h = 0x9E37·s mod 2^16; its top 6 bits index a 64-entry
//          table of Gaussian quantiles rounded to 1/48, value = round(48·Φ⁻¹((i + ½)/64)) / 48.
//          Made for CPUs: 16-bit multiplies (32 lanes) and one byte permute (vpermb) per 64
//          weights, the table small integers that feed int8 dot products (docs/qtip.md "Cost").
//   XOR7   (V = 1) not QTIP's: i = (s XOR m(s >> 9)) mod 128 with m(b) = (0x9E37·b mod 2^16) >> 9
//          (state bits 0..6 XORed with a hash of bits 9..15); value = round(47·Φ⁻¹((r(i) + ½)/128)) / 47,
//          r the 7-bit bit reversal, so that a state's successors (i's low bits differ) fall in
//          different strata of the distribution. Made for AVX-512 byte shuffles: two byte windows
//          (vpmultishiftqb), two 128-byte lookups (vpermi2b) and one vpdpbusd per 64 weights.
// The constants of the first three are the published ones (QTIP's reference
// implementation); the names in files are "1mad", "3inst", "hyb", "hash6", "xor7" (frozen).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quip::trellis {

enum class Code : uint8_t { k1Mad, k3Inst, kHyb, kHash6, kXor7 };

constexpr int kStateBits = 16;  // L: the codes above are defined for 16-bit states
constexpr int kHybTableBits = 9;  // Q: 2^9 table rows

// Weights per trellis step (V) of a code.
constexpr int ValuesPerState(Code c) { return c == Code::kHyb ? 2 : 1; }
const char* CodeName(Code c);
// Parses a name of CodeName; false for anything else.
bool ParseCode(const std::string& name, Code* out);
// "1mad, 3inst, ...": every code's name, for messages.
std::string CodeNames();

float Decode1Mad(uint32_t state);
float Decode3Inst(uint32_t state);

// HASH6's table as integers: value = kHash6Table[(0x9E37·s mod 2^16) >> 10] / kHash6Divisor.
constexpr int kHash6Divisor = 48;
extern const int8_t kHash6Table[64];
// The 6-bit table index of a state.
constexpr uint32_t Hash6Index(uint32_t state) { return ((state * 0x9E37u) & 0xFFFFu) >> 10; }
float DecodeHash6(uint32_t state);

// XOR7's table as integers: value = kXor7Table[Xor7Index(s)] / kXor7Divisor.
constexpr int kXor7Divisor = 47;
extern const int8_t kXor7Table[128];
// m(b): the 7-bit hash of the state's bits 9..15 that XOR7 mixes into its low bits.
constexpr uint32_t Xor7Mix(uint32_t high) { return ((high * 0x9E37u) & 0xFFFFu) >> 9; }
constexpr uint32_t Xor7Index(uint32_t state) { return (state ^ Xor7Mix((state >> 9) & 127)) & 127; }
float DecodeXor7(uint32_t state);

// HYB's table: 2^kHybTableBits rows of two values, row-major.
struct HybTable {
  std::vector<float> values;
};
// Lloyd's k-means on `samples` 2-D standard Gaussian points from SeededRandom(seed), started
// from the first 2^9 of them, `iterations` rounds; then scaled so that the values' RMS is
// √(15/16), as the published table. Deterministic on every machine.
HybTable FitHybTable(uint64_t seed, int samples = 1 << 16, int iterations = 20);
// The table quip quantizes with: FitHybTable of a fixed seed, fit once per process. Every
// linear of a model shares it (the file stores it once).
const HybTable& DefaultHybTable();
// The two values of `state`; `table` holds a HybTable's 2^9 × 2 values.
void DecodeHyb(uint32_t state, const float* table, float* out);
// The table row a state reads (bits 6..14 of h), and whether its first value is negated (bit 15).
constexpr uint32_t HybHash(uint32_t state) { return (state + 1) * state; }
constexpr uint32_t HybRow(uint32_t state) { return (HybHash(state) >> (15 - kHybTableBits)) & ((1u << kHybTableBits) - 1); }
constexpr bool HybNegated(uint32_t state) { return (HybHash(state) >> 15) & 1; }

// Every state's values (2^16 × V, state-major) for the trellis search.
std::vector<float> StateValues(Code code, const HybTable* table);

}  // namespace quip::trellis
