// The paper's tables on our models: every (configuration, bit width) pair is
// quantized from the same calibration windows and scored on the same texts.
//
// Configurations (rows):
//   methods    Near, Near+IncP, OPTQ, LDLQ-RG, QuIP (IncP + LDLQ), QuIP-RG
//   sub-steps  LDLQ with: rescale only, incoherence only, both (= QuIP), both + range tuning
//   QuIP#      QuIP# (RHT + E8P, RVQ at 3/4 bits, block LDLQ), and its parts next to
//              "incoherence only" (= Kron-scalar): RHT-scalar, Kron-E8P
//   targets    all rows above use the paper's calibration (--targets block); "+ seq" and
//              "+ asym" rerun QuIP# / QuIP with --targets sequential / original
//   QTIP       RHT + bitshift trellis (1MAD) + block LDLQ, with block and original targets,
//              and the 3INST and HYB codes (original targets)
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/quantize_model.h"
#include "quant/quantize.h"

namespace quip {

struct AblationRow {
  std::string name;   // "QuIP", "rescale only", ...
  std::string group;  // "method" or "sub-step"
  std::string method; // --method preset it starts from
  QuantConfig config; // bits filled in per run
  CalibrationTargets targets = CalibrationTargets::kBlock;
};
std::vector<AblationRow> PaperAblationRows();

struct AblationOptions {
  std::string model, calib;
  std::vector<std::string> evals;
  std::vector<int> bits{2, 3, 4};
  int nsamples = 128, ctx = 256, eval_windows = 0;
  uint64_t seed = 0;
  std::vector<std::string> only;  // row names to run (empty: all)
};

// Runs everything; `log` receives one line per finished run.
nlohmann::json RunAblation(const AblationOptions& options, const std::function<void(const std::string&)>& log);

// Markdown tables (one per evaluation text: rows x bits, ppl and ratio to fp32).
std::string AblationMarkdown(const nlohmann::json& results);

}  // namespace quip
