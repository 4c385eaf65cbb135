// The row table of `quip ablate` (pipeline/ablation.cc), which produces every published
// ablation number: each row name must map to the configuration the docs give it.
// Independent reference: the table below, written from the wording of docs/results.md,
// pipeline/ablation.h and pipeline/methods.h (not from ablation.cc):
//   Near, OPTQ, LDLQ-RG   per-row min/max grid, no rotation, no D̃
//   Near+IncP, QuIP, -RG  incoherence processing = Kronecker rotation + one-scale grid + D̃
//   rescale only          LDLQ with D̃ only; incoherence only: LDLQ with the rotation only
//   both + range tuning   QuIP with ρ searched per matrix
//   QuIP#                 randomized Hadamard + E8P + block LDLQ, no D̃
//   RHT-scalar, Kron-E8P  QuIP# with one part swapped: scalar grid / Kronecker rotation
//   + seq, + asym         the row before the "+" with --targets sequential / original
//   QTIP                  randomized Hadamard + bitshift trellis (1MAD) + block LDLQ, no D̃;
//                         "QTIP 3INST/HYB + asym": the other codes, --targets original
// All rows but the "+" ones use the paper's calibration (--targets block).
#include "pipeline/ablation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace quip {
namespace {

struct Expected {
  const char* name;
  const char* group;
  const char* method;
  Rounding rounding;
  bool incoherence;
  RotationKind rotation;  // only meaningful with incoherence
  Codebook codebook;
  bool rescale;
  bool range_tuning;
  CalibrationTargets targets;
  trellis::Code code = trellis::Code::k1Mad;  // trellis rows only
};

constexpr RotationKind kKron = RotationKind::kKron, kRht = RotationKind::kRht;
constexpr Codebook kScalar = Codebook::kScalar, kE8P = Codebook::kE8P, kTrellis = Codebook::kTrellis;
constexpr CalibrationTargets kBlock = CalibrationTargets::kBlock, kSeq = CalibrationTargets::kSequential,
                             kOrig = CalibrationTargets::kOriginal;

const std::vector<Expected>& DocumentedRows() {
  static const std::vector<Expected> rows = {
      {"Near", "method", "near", Rounding::kNearest, false, kKron, kScalar, false, false, kBlock},
      {"Near+IncP", "method", "near-incp", Rounding::kNearest, true, kKron, kScalar, true, false, kBlock},
      {"OPTQ", "method", "optq", Rounding::kOptq, false, kKron, kScalar, false, false, kBlock},
      {"LDLQ-RG", "method", "ldlq-rg", Rounding::kLdlqRg, false, kKron, kScalar, false, false, kBlock},
      {"QuIP", "method", "quip", Rounding::kLdlq, true, kKron, kScalar, true, false, kBlock},
      {"QuIP-RG", "method", "quip-rg", Rounding::kLdlqRg, true, kKron, kScalar, true, false, kBlock},
      {"rescale only", "sub-step", "ldlq", Rounding::kLdlq, false, kKron, kScalar, true, false, kBlock},
      {"incoherence only", "sub-step", "ldlq", Rounding::kLdlq, true, kKron, kScalar, false, false, kBlock},
      {"both + range tuning", "sub-step", "quip", Rounding::kLdlq, true, kKron, kScalar, true, true, kBlock},
      {"QuIP#", "method", "quipsharp", Rounding::kLdlq, true, kRht, kE8P, false, false, kBlock},
      {"RHT-scalar", "quipsharp", "quip", Rounding::kLdlq, true, kRht, kScalar, false, false, kBlock},
      {"Kron-E8P", "quipsharp", "quipsharp", Rounding::kLdlq, true, kKron, kE8P, false, false, kBlock},
      {"QuIP# + seq", "targets", "quipsharp", Rounding::kLdlq, true, kRht, kE8P, false, false, kSeq},
      {"QuIP# + asym", "targets", "quipsharp", Rounding::kLdlq, true, kRht, kE8P, false, false, kOrig},
      {"QuIP + asym", "targets", "quip", Rounding::kLdlq, true, kKron, kScalar, true, false, kOrig},
      {"QTIP", "method", "qtip", Rounding::kLdlq, true, kRht, kTrellis, false, false, kBlock},
      {"QTIP + asym", "targets", "qtip", Rounding::kLdlq, true, kRht, kTrellis, false, false, kOrig},
      {"QTIP 3INST + asym", "qtip", "qtip", Rounding::kLdlq, true, kRht, kTrellis, false, false, kOrig,
       trellis::Code::k3Inst},
      {"QTIP HYB + asym", "qtip", "qtip", Rounding::kLdlq, true, kRht, kTrellis, false, false, kOrig,
       trellis::Code::kHyb},
  };
  return rows;
}

TEST(AblationRows, EachRowIsTheConfigurationTheDocsName) {
  const std::vector<AblationRow> rows = PaperAblationRows();
  const std::vector<Expected>& want = DocumentedRows();
  ASSERT_EQ(rows.size(), want.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const AblationRow& r = rows[i];
    const Expected& e = want[i];
    SCOPED_TRACE(e.name);
    EXPECT_EQ(r.name, e.name);  // order is the order of the published tables
    EXPECT_EQ(r.group, e.group);
    EXPECT_EQ(r.method, e.method);
    EXPECT_EQ(r.config.rounding, e.rounding);
    EXPECT_EQ(r.config.incoherence, e.incoherence);
    if (e.incoherence) {
      EXPECT_EQ(r.config.rotation, e.rotation);
    }
    EXPECT_EQ(r.config.codebook, e.codebook);
    EXPECT_EQ(r.config.rescale, e.rescale);
    EXPECT_EQ(r.config.range_tuning, e.range_tuning);
    EXPECT_EQ(r.targets, e.targets);
    EXPECT_EQ(r.config.trellis_code, e.code);
    // Everything else at the defaults `quip quantize` uses (the driver sets bits and seed).
    const QuantConfig d;
    EXPECT_EQ(r.config.damping, d.damping);
    EXPECT_EQ(r.config.rho, d.rho);
    EXPECT_EQ(r.config.rho2, d.rho2);
    EXPECT_EQ(r.config.rg_passes, d.rg_passes);
    EXPECT_EQ(r.config.clip_before_rounding, d.clip_before_rounding);
  }
}

}  // namespace
}  // namespace quip
