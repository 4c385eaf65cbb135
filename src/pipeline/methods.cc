#include "pipeline/methods.h"

#include <fmt/ranges.h>

#include "core/error.h"

namespace quip {
namespace {

struct Preset {
  const char* name;
  Rounding rounding;
  bool incoherence;  // incoherence processing = diagonal rescaling + Kronecker rotations
};

constexpr Preset kPresets[] = {
    {"near", Rounding::kNearest, false},    {"stoch", Rounding::kStochastic, false},
    {"near-incp", Rounding::kNearest, true}, {"optq", Rounding::kOptq, false},
    {"ldlq", Rounding::kLdlq, false},       {"ldlq-rg", Rounding::kLdlqRg, false},
    {"quip", Rounding::kLdlq, true},        {"quip-rg", Rounding::kLdlqRg, true},
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
    config.rescale = p.incoherence;
    return config;
  }
  Fail("--method", "unknown method '{}' (choose from {})", method, fmt::join(MethodNames(), ", "));
}

}  // namespace quip
