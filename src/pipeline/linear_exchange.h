// The linears one rank of a ProcessGroup rounded, sent to the others: QuantizeModel rounds a
// stage's linears on different ranks, then every rank needs all of them to run the quantized
// block on its windows. They travel as a quip safetensors file (io/quip_format.h, the one
// serialization of a StoredLinear, so every codebook the format knows travels too) with each
// linear's report entry in its metadata; the bytes read back build the very layer the
// rounding rank holds, and a folder written from them is byte-identical.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/linear.h"
#include "pipeline/process_group.h"

namespace quip {

struct RoundedLinear {
  std::string name;  // "model.layers.0.self_attn.q_proj"
  std::unique_ptr<Linear> linear;  // quantized (stored_linear() non-null)
  nlohmann::json report;  // its entry of quant_report.json's "linears"
};

// Linears held elsewhere (a model's layer slots, a RoundedLinear), to be packed.
struct LinearRef {
  const std::string& name;
  const Linear& linear;
  const nlohmann::json& report;
};

// `linears` as bytes, and back in the same order (the file passes through a scratch folder of
// this process). The bytes are a quip safetensors file: pipeline/block_checkpoint.h stores them.
std::vector<uint8_t> PackRoundedLinears(const std::vector<LinearRef>& linears);
std::vector<RoundedLinear> UnpackRoundedLinears(const std::vector<uint8_t>& bytes, const std::string& where);

// Gives every rank every linear: linears[i] was rounded by rank owner[i], which holds it;
// the others receive it (one broadcast per rank that rounded any).
void ShareRoundedLinears(ProcessGroup& group, std::vector<RoundedLinear>& linears, const std::vector<int>& owner);

}  // namespace quip
