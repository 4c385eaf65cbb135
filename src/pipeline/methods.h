// Named quantization methods (--method): each is a QuantConfig preset over the
// same pre-/post-processing and rounding code, so ablations differ in one switch.
//
//   near       nearest rounding, per-row min/max grid          (paper: "Near")
//   stoch      unbiased stochastic rounding, per-row min/max
//   near-incp  nearest rounding + incoherence processing       (paper: "Near + IncP")
//   optq       OPTQ/GPTQ, per-row min/max                       (paper's baseline "OPTQ")
//   ldlq       LDLQ, per-row min/max (equals optq)
//   ldlq-rg    LDLQ-RG, per-row min/max                         (paper: "LDLQ-RG")
//   quip       incoherence processing + LDLQ  (default)        (paper: "QuIP")
//   quip-rg    incoherence processing + LDLQ-RG                 (paper: "QuIP-RG")
//   quipsharp  randomized Hadamard + E8P codebook (+ RVQ at 3/4 bits) + block LDLQ (QuIP#)
//   qtip       randomized Hadamard + bitshift trellis (computed code, --code) + block LDLQ (QTIP)
#pragma once

#include <string>
#include <vector>

#include "quant/quantize.h"

namespace quip {

// Throws quip::Error listing the valid names when `method` is unknown.
QuantConfig ConfigForMethod(const std::string& method, int bits);
std::vector<std::string> MethodNames();

}  // namespace quip
