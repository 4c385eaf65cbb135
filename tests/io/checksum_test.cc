// Checksums of quip folders (io/checksum.h): WriteQuantizedModel records an XXH3-64 per
// tensor in __metadata__ "quip.checksums"; loading verifies them. The references are the
// written folder itself (every stored tensor has an entry; the entry is XXH3 of the bytes,
// recomputed here with libxxhash directly) and edits made here: a flipped byte, an edited
// seed, bit width or incoherence in "quip.linears" must be refused naming the tensor, and
// a folder without the key (written before checksums existed) must still load. The folder's
// config.json is covered through "quip.config_checksum": a math field edited there is refused,
// a field the loader ignores is not.
#include "io/checksum.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <xxhash.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "model/forward.h"
#include "pipeline/load.h"
#include "testing/quantized_folder.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
using ::testing::HasSubstr;
using testing::StoredTensor;

const std::string kQ = "model.layers.1.self_attn.q_proj";

using testing::ExpectLoadError;

// Applies `edit` to the "quip.linears" JSON of out/model.safetensors.
void EditLinears(const std::string& out, const std::function<void(nlohmann::json&)>& edit) {
  testing::RewriteSafetensors(out + "/model.safetensors", [&](std::map<std::string, std::string>& meta, auto&) {
    nlohmann::json linears = nlohmann::json::parse(meta.at("quip.linears"));
    edit(linears);
    meta["quip.linears"] = linears.dump();
  });
}

std::vector<float> Logits(const Model& model) {
  std::vector<int> tokens{1};
  for (int i = 1; i < 20; ++i) tokens.push_back((i * 37 + 5) % model.config.vocab_size);
  Session session(model, int(tokens.size()));
  const auto logits = session.Feed(tokens, true);
  return {logits.begin(), logits.end()};
}

TEST(Checksums, EveryStoredTensorHasOneAndDenseOnesAreXxh3OfTheirBytes) {
  const std::string out = testing::WriteTinyQuantizedFolder("checksums-written");
  const SafetensorsFile file(out + "/model.safetensors");
  ASSERT_TRUE(file.metadata().count(kChecksumsKey));
  const nlohmann::json sums = nlohmann::json::parse(file.metadata().at(kChecksumsKey));
  ASSERT_EQ(sums.size(), file.tensors().size());
  for (const auto& t : file.tensors()) {
    ASSERT_TRUE(sums.contains(t.name)) << t.name;
    const std::string sum = sums[t.name].get<std::string>();
    EXPECT_EQ(sum.size(), 16u);
    if (t.name.ends_with(".codes")) continue;  // also covers metadata: see the edits below
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx",
                  static_cast<unsigned long long>(XXH3_64bits(file.RawBytes(t), size_t(t.end - t.begin))));
    EXPECT_EQ(sum, hex) << t.name;
  }
  EXPECT_NO_THROW(LoadModel(out));
}

TEST(Checksums, FlippedByteInCodesIsRefusedNamingTheTensor) {
  const std::string out = testing::WriteTinyQuantizedFolder("checksums-codes");
  testing::RewriteSafetensors(out + "/model.safetensors", [](auto&, std::map<std::string, StoredTensor>& t) {
    t.at(kQ + ".codes").bytes[17] ^= 0x04;
  });
  ExpectLoadError(out, {"tensor '" + kQ + ".codes' fails its checksum", "the file is corrupt or was edited"});
}

TEST(Checksums, FlippedBitInADenseTensorIsRefusedNamingTheTensor) {
  const std::string out = testing::WriteTinyQuantizedFolder("checksums-dense");
  testing::RewriteSafetensors(out + "/model.safetensors", [](auto&, std::map<std::string, StoredTensor>& t) {
    t.at("model.embed_tokens.weight").bytes[400] ^= 0x01;  // lowest mantissa bit: still a finite float
  });
  ExpectLoadError(out, {"tensor 'model.embed_tokens.weight' fails its checksum"});
}

TEST(Checksums, EditedSeedIsRefusedNamingTheTensor) {
  const std::string out = testing::WriteTinyQuantizedFolder("checksums-seed");
  EditLinears(out, [](nlohmann::json& l) { l[kQ]["seed_u"] = l[kQ]["seed_u"].get<uint64_t>() + 1; });
  ExpectLoadError(out, {"tensor '" + kQ + ".codes' fails its checksum", "quip.linears"});
}

TEST(Checksums, EditedIncoherenceIsRefusedNamingTheTensor) {
  // "none" needs no seeds, so every field check passes; only the checksum sees the edit.
  const std::string out = testing::WriteTinyQuantizedFolder("checksums-incoherence");
  EditLinears(out, [](nlohmann::json& l) { l[kQ]["incoherence"] = "none"; });
  ExpectLoadError(out, {"tensor '" + kQ + ".codes' fails its checksum"});
}

TEST(Checksums, EditedBitWidthIsRefusedNamingTheTensor) {
  // Every bit width packs a row into a different number of bytes, so the codes' row-length
  // check refuses the edit before the checksum does, and blames the metadata (not config.json).
  for (const char* method : {"quip", "quipsharp"}) {
    SCOPED_TRACE(method);
    const std::string out = testing::WriteTinyQuantizedFolder(std::string("checksums-bits-") + method, method, 3);
    EditLinears(out, [](nlohmann::json& l) { l[kQ]["bits"] = 4; });
    ExpectLoadError(out, {kQ + ".codes", "bit width 4 in __metadata__", "the metadata and the codes disagree"});
  }
}

TEST(Checksums, FolderWithoutChecksumsStillLoadsWithTheSameLogits) {
  const std::string out = testing::WriteTinyQuantizedFolder("checksums-absent");
  const std::vector<float> with = Logits(LoadModel(out));
  testing::RewriteSafetensors(out + "/model.safetensors",
                              [](std::map<std::string, std::string>& meta, auto&) { meta.erase(kChecksumsKey); });
  const std::vector<float> without = Logits(LoadModel(out));
  ASSERT_EQ(with.size(), without.size());
  EXPECT_EQ(0, std::memcmp(with.data(), without.data(), with.size() * sizeof(float)));
}

TEST(Checksums, TensorWithoutAnEntryIsRefused) {
  const std::string out = testing::WriteTinyQuantizedFolder("checksums-missing-entry");
  testing::RewriteSafetensors(out + "/model.safetensors", [](std::map<std::string, std::string>& meta, auto&) {
    nlohmann::json sums = nlohmann::json::parse(meta.at(kChecksumsKey));
    sums.erase("model.norm.weight");
    meta[kChecksumsKey] = sums.dump();
  });
  ExpectLoadError(out, {"tensor 'model.norm.weight' has no checksum"});
}

// Rewrites out/config.json with `edit` applied.
void EditConfig(const std::string& out, const std::function<void(nlohmann::json&)>& edit) {
  const std::string path = out + "/config.json";
  nlohmann::json config = nlohmann::json::parse(std::ifstream(path));
  edit(config);
  std::ofstream(path) << config.dump(2);
}

TEST(Checksums, EditedConfigFieldThatChangesTheMathIsRefused) {
  for (const char* field : {"rms_norm_eps", "rope_theta"}) {
    SCOPED_TRACE(field);
    const std::string out = testing::WriteTinyQuantizedFolder(std::string("checksums-config-") + field);
    EditConfig(out, [&](nlohmann::json& c) { c[field] = c[field].get<double>() * 2; });
    try {
      LoadModel(out);
      ADD_FAILURE() << "LoadModel accepted the edited config.json of " << out;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr(out + "/config.json"));
      EXPECT_THAT(e.what(), HasSubstr("a field that changes the math was edited"));
    }
  }
}

TEST(Checksums, ConfigFieldTheLoaderIgnoresMayChange) {
  const std::string out = testing::WriteTinyQuantizedFolder("checksums-config-ignored");
  const std::vector<float> before = Logits(LoadModel(out));
  EditConfig(out, [](nlohmann::json& c) { c["torch_dtype"] = "bfloat16"; });
  const std::vector<float> after = Logits(LoadModel(out));
  ASSERT_EQ(before.size(), after.size());
  EXPECT_EQ(0, std::memcmp(before.data(), after.data(), before.size() * sizeof(float)));
}

TEST(Checksums, CommandLineReportsAFailedChecksumAsOneCleanLine) {
  const std::string out = testing::WriteTinyQuantizedFolder("checksums-cli");
  testing::RewriteSafetensors(out + "/model.safetensors", [](auto&, std::map<std::string, StoredTensor>& t) {
    t.at(kQ + ".codes").bytes[0] ^= 0x80;
  });
  testing::ExpectCleanError(
      testing::RunCommandSplit(testing::ShellQuote(testing::QuipBinary()) + " info --model " + testing::ShellQuote(out)),
      {out + "/model.safetensors", "tensor '" + kQ + ".codes' fails its checksum (stored"});
}

}  // namespace
}  // namespace quip
