// ConfigForMethod / MethodNames. Independent reference: the preset table written out in
// pipeline/methods.h (rounding, incoherence, rotation, codebook and D̃ per name: the
// scalar QuIP presets rescale whenever they rotate, QuIP# never rescales).
#include "pipeline/methods.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "core/error.h"

namespace quip {
namespace {
using ::testing::HasSubstr;

struct Expected {
  Rounding rounding;
  bool incoherence;
  bool rescale;
  RotationKind rotation = RotationKind::kKron;
  Codebook codebook = Codebook::kScalar;
};

const std::map<std::string, Expected>& Table() {
  static const std::map<std::string, Expected> table{
      {"near", {Rounding::kNearest, false, false}},
      {"stoch", {Rounding::kStochastic, false, false}},
      {"near-incp", {Rounding::kNearest, true, true}},
      {"optq", {Rounding::kOptq, false, false}},
      {"ldlq", {Rounding::kLdlq, false, false}},
      {"ldlq-rg", {Rounding::kLdlqRg, false, false}},
      {"quip", {Rounding::kLdlq, true, true}},
      {"quip-rg", {Rounding::kLdlqRg, true, true}},
      {"quipsharp", {Rounding::kLdlq, true, false, RotationKind::kRht, Codebook::kE8P}},
      {"qtip", {Rounding::kLdlq, true, false, RotationKind::kRht, Codebook::kTrellis}},
  };
  return table;
}

TEST(Methods, EveryNameHasItsDocumentedPreset) {
  const auto names = MethodNames();
  EXPECT_EQ(names.size(), Table().size());
  for (const auto& name : names) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(Table().count(name)) << "undocumented method";
    for (int bits : {2, 3, 4}) {
      const QuantConfig c = ConfigForMethod(name, bits);
      EXPECT_EQ(c.bits, bits);
      EXPECT_EQ(c.rounding, Table().at(name).rounding);
      EXPECT_EQ(c.incoherence, Table().at(name).incoherence);
      EXPECT_EQ(c.rescale, Table().at(name).rescale);
      EXPECT_EQ(c.rotation, Table().at(name).rotation);
      EXPECT_EQ(c.codebook, Table().at(name).codebook);
      EXPECT_FALSE(c.range_tuning);
      EXPECT_EQ(c.trellis_code, trellis::Code::k1Mad);  // --code overrides it
    }
  }
}

TEST(Methods, UnknownMethodListsEveryName) {
  try {
    ConfigForMethod("gptq-xl", 2);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("--method"));
    EXPECT_THAT(e.what(), HasSubstr("unknown method 'gptq-xl'"));
    for (const auto& name : MethodNames()) EXPECT_THAT(e.what(), HasSubstr(name));
  }
}

TEST(Methods, UnsupportedBitsAreRejected) {
  for (int bits : {0, 1, 5, 8}) {
    try {
      ConfigForMethod("quip", bits);
      ADD_FAILURE() << "bits " << bits << " accepted";
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("--bits"));
      EXPECT_THAT(e.what(), HasSubstr(std::to_string(bits) + " is not supported"));
    }
  }
}

}  // namespace
}  // namespace quip
