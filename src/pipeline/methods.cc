#include "pipeline/methods.h"

#include <fmt/ranges.h>

#include "core/error.h"

namespace quip {
namespace {

struct Preset {
  const char* name;
  Rounding rounding;
  bool incoherence;  // incoherence processing: random rotations (+ diagonal rescaling for the scalar grid)
  RotationKind rotation = RotationKind::kKron;
  Codebook codebook = Codebook::kScalar;
};

constexpr Preset kPresets[] = {
    {"near", Rounding::kNearest, false},    {"stoch", Rounding::kStochastic, false},
    {"near-incp", Rounding::kNearest, true}, {"optq", Rounding::kOptq, false},
    {"ldlq", Rounding::kLdlq, false},       {"ldlq-rg", Rounding::kLdlqRg, false},
    {"quip", Rounding::kLdlq, true},        {"quip-rg", Rounding::kLdlqRg, true},
    {"quipsharp", Rounding::kLdlq, true, RotationKind::kRht, Codebook::kE8P},
    {"qtip", Rounding::kLdlq, true, RotationKind::kRht, Codebook::kTrellis},
};

}  // namespace

std::vector<std::string> MethodNames() {
  std::vector<std::string> names;
  for (const auto& p : kPresets) names.push_back(p.name);
  return names;
}

QuantConfig ConfigForMethod(const std::string& method, int bits) {
  QUIP_CHECK_INPUT(bits >= 2 && bits <= 4, "--bits", "{} is not supported (2, 3 or 4)", bits);
  for (const auto& p : kPresets) {
    if (method != p.name) continue;
    QuantConfig config;
    config.bits = bits;
    config.rounding = p.rounding;
    config.incoherence = p.incoherence;
    config.rotation = p.rotation;
    config.codebook = p.codebook;
    // QuIP# (and QTIP) drop D̃: its 32 bits per input column would cost ~0.1 bit per
    // weight on small models, more than the E8P budget of 2.02 allows, and the Hadamard
    // rotation already spreads the column norms.
    config.rescale = p.incoherence && p.codebook == Codebook::kScalar;
    return config;
  }
  Fail("--method", "unknown method '{}' (choose from {})", method, fmt::join(MethodNames(), ", "));
}

}  // namespace quip
