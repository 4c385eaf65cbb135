#include "format/trellis_codes.h"

#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/half.h"
#include "format/seeded_random.h"

namespace quip::trellis {

const char* CodeName(Code c) {
  switch (c) {
    case Code::k1Mad: return "1mad";
    case Code::k3Inst: return "3inst";
    case Code::kHyb: return "hyb";
    case Code::kHash6: return "hash6";
    case Code::kXor7: return "xor7";
  }
  return "?";
}

namespace {
constexpr Code kCodes[] = {Code::k1Mad, Code::k3Inst, Code::kHyb, Code::kHash6, Code::kXor7};
}  // namespace

bool ParseCode(const std::string& name, Code* out) {
  for (Code c : kCodes)
    if (name == CodeName(c)) {
      *out = c;
      return true;
    }
  return false;
}

std::string CodeNames() {
  std::string s;
  for (Code c : kCodes) s += (s.empty() ? "" : ", ") + std::string(CodeName(c));
  return s;
}

float Decode1Mad(uint32_t state) {
  const uint32_t x = state * 34038481u + 76625530u;
  const int sum = int(x & 255) + int((x >> 8) & 255) + int((x >> 16) & 255) + int(x >> 24);
  return float(sum - 510) / 147.800537109375f;
}

float Decode3Inst(uint32_t state) {
  const uint32_t x = state * 89226354u + 64248484u;
  const uint32_t bits = (x & 0x8FFF8FFFu) ^ 0x3B603B60u;  // sign + 12 low bits of each half
  return F16ToFloat(uint16_t(bits >> 16)) + F16ToFloat(uint16_t(bits & 0xFFFF));
}

// round(48·Φ⁻¹((i + ½)/64)), i = 0..63 (tools/trellis_reference.py computes it from that definition).
const int8_t kHash6Table[64] = {-116, -95, -85, -77, -71, -66, -61, -57, -53, -50, -47, -44, -41, -39, -36, -34,
                                -31,  -29, -27, -25, -22, -20, -18, -16, -14, -12, -10, -9,  -7,  -5,  -3,  -1,
                                1,    3,   5,   7,   9,   10,  12,  14,  16,  18,  20,  22,  25,  27,  29,  31,
                                34,   36,  39,  41,  44,  47,  50,  53,  57,  61,  66,  71,  77,  85,  95,  116};

float DecodeHash6(uint32_t state) { return float(kHash6Table[Hash6Index(state)]) / float(kHash6Divisor); }

// round(47·Φ⁻¹((r(i) + ½)/128)), r(i) the 7-bit bit reversal of i (tools/trellis_reference.py).
const int8_t kXor7Table[128] = {
    -125, 0, -31, 32, -53, 15, -14, 55, -71, 8, -22, 42, -41, 23, -7, 74,
    -85, 4, -27, 37, -47, 19, -11, 63, -61, 12, -18, 48, -36, 28, -3, 90,
    -97, 2, -29, 35, -50, 17, -13, 59, -65, 10, -20, 45, -38, 26, -5, 81,
    -77, 6, -25, 40, -44, 21, -9, 68, -57, 14, -16, 51, -33, 30, -1, 107,
    -107, 1, -30, 33, -51, 16, -14, 57, -68, 9, -21, 44, -40, 25, -6, 77,
    -81, 5, -26, 38, -45, 20, -10, 65, -59, 13, -17, 50, -35, 29, -2, 97,
    -90, 3, -28, 36, -48, 18, -12, 61, -63, 11, -19, 47, -37, 27, -4, 85,
    -74, 7, -23, 41, -42, 22, -8, 71, -55, 14, -15, 53, -32, 31, 0, 125};

float DecodeXor7(uint32_t state) { return float(kXor7Table[Xor7Index(state)]) / float(kXor7Divisor); }

const HybTable& DefaultHybTable() {
  static const HybTable table = FitHybTable(0x48594221);
  return table;
}

void DecodeHyb(uint32_t state, const float* table, float* out) {
  const uint32_t row = HybRow(state);
  const float sign = HybNegated(state) ? -1.0f : 1.0f;
  out[0] = sign * table[2 * row];
  out[1] = table[2 * row + 1];
}

HybTable FitHybTable(uint64_t seed, int samples, int iterations) {
  constexpr int kRows = 1 << kHybTableBits;
  QUIP_ASSERT(samples >= kRows && iterations >= 1);
  SeededRandom rng(MixSeed(seed));
  std::vector<double> points(2 * size_t(samples));
  for (double& p : points) p = rng.Gaussian();
  std::vector<double> centers(points.begin(), points.begin() + 2 * kRows);
  std::vector<double> sum(2 * kRows);
  std::vector<int> count(kRows);
  for (int it = 0; it < iterations; ++it) {
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(count.begin(), count.end(), 0);
    for (int i = 0; i < samples; ++i) {
      const double px = points[2 * i], py = points[2 * i + 1];
      int best = 0;
      double best_d = std::numeric_limits<double>::infinity();
      for (int k = 0; k < kRows; ++k) {
        const double dx = px - centers[2 * k], dy = py - centers[2 * k + 1];
        const double d = dx * dx + dy * dy;
        if (d < best_d) best_d = d, best = k;
      }
      sum[2 * best] += px, sum[2 * best + 1] += py, ++count[best];
    }
    for (int k = 0; k < kRows; ++k)  // an empty cluster keeps its center
      if (count[k] > 0) centers[2 * k] = sum[2 * k] / count[k], centers[2 * k + 1] = sum[2 * k + 1] / count[k];
  }
  double mean_square = 0;
  for (double c : centers) mean_square += c * c;
  const double scale = std::sqrt(15.0 / 16.0) / std::sqrt(mean_square / centers.size());
  HybTable t;
  t.values.resize(centers.size());
  for (size_t i = 0; i < centers.size(); ++i) t.values[i] = float(centers[i] * scale);
  return t;
}

std::vector<float> StateValues(Code code, const HybTable* table) {
  const int v = ValuesPerState(code);
  std::vector<float> values(size_t(v) << kStateBits);
  for (uint32_t s = 0; s < (1u << kStateBits); ++s) {
    switch (code) {
      case Code::k1Mad: values[s] = Decode1Mad(s); break;
      case Code::k3Inst: values[s] = Decode3Inst(s); break;
      case Code::kHash6: values[s] = DecodeHash6(s); break;
      case Code::kXor7: values[s] = DecodeXor7(s); break;
      case Code::kHyb:
        QUIP_ASSERT(table != nullptr && table->values.size() == 2u << kHybTableBits);
        DecodeHyb(s, table->values.data(), &values[2 * size_t(s)]);
        break;
    }
  }
  return values;
}

}  // namespace quip::trellis
