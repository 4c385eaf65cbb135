// The quip folder format (io/quip_format.h): a tiny random model quantized in memory
// (pipeline QuantizeModel) is written with WriteQuantizedModel and loaded back.
//
// Independent references: the in-memory quantized model itself (the loaded one must hold
// the same packed bytes, scales and seeds and give bit-identical logits), the frozen
// format description in io/quip_format.h (metadata keys, tensor names), and for the
// loader's rejections the format's stated limits (bits 2..4, incoherence kron|none,
// seeds for kron, finite scales, positive rescale) applied to folders edited here by
// rewriting model.safetensors with SafetensorsWriter.
#include "io/quip_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <sstream>

#include "core/error.h"
#include "io/safetensors.h"
#include "model/forward.h"
#include "pipeline/load.h"
#include "format/stored_linear.h"
#include "pipeline/methods.h"
#include "pipeline/quantize_model.h"
#include "format/e8p.h"
#include "format/packing.h"
#include "testing/quantized_folder.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr int kWindows = 4, kWindowLength = 16;

std::vector<std::vector<int>> RandomWindows(int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int>> windows(kWindows);
  for (auto& w : windows)
    for (int i = 0; i < kWindowLength; ++i) w.push_back(int(rng() % uint64_t(vocab)));
  return windows;
}

struct Quantized {
  Model model;
  nlohmann::json report;
  std::map<std::string, std::string> metadata;
};

// A tiny random model written as an HF folder under `name`, loaded and quantized in memory.
Quantized QuantizeTiny(const std::string& name, const std::string& method, int bits,
                       Rounding rounding = Rounding::kLdlq, bool incoherence = true) {
  const std::string dir = testing::MakeTempDir(name) + "/fp32";
  testing::WriteHfFolder(testing::RandomWeights(testing::TinyConfig(), 11), dir);
  Quantized q{LoadModel(dir), {}, {}};
  QuantizeModelOptions options;
  options.config.bits = bits;
  options.config.rounding = rounding;
  options.config.incoherence = incoherence;
  options.config.rescale = incoherence;
  options.config.seed = 3;
  options.method = method;
  q.report = QuantizeModel(q.model, RandomWindows(q.model.config.vocab_size, 5), options);
  q.metadata = {{"quip.method", method}, {"quip.bits", std::to_string(bits)}, {"quip.rho", "1.8"},
                {"quip.seed", "3"}, {"quip.tool_version", "test"}};
  return q;
}

std::string WriteTiny(const std::string& name, const std::string& method = "quip", int bits = 2,
                      Rounding rounding = Rounding::kLdlq, bool incoherence = true) {
  Quantized q = QuantizeTiny(name, method, bits, rounding, incoherence);
  const std::string out = fs::path(q.model.source).parent_path() / "quantized";
  WriteQuantizedModel(q.model, out, q.metadata, q.report, q.model.source, false);
  return out;
}

std::vector<const Linear*> Linears(const Model& m) {
  std::vector<const Linear*> all;
  for (const auto& l : m.layers)
    for (const Linear* x : {l.q.get(), l.k.get(), l.v.get(), l.o.get(), l.gate.get(), l.up.get(), l.down.get()})
      all.push_back(x);
  return all;
}

std::vector<float> Logits(const Model& model, const std::vector<int>& tokens) {
  Session session(model, int(tokens.size()));
  const auto logits = session.Feed(tokens, true);
  return {logits.begin(), logits.end()};
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Entries of `dir` whose names contain ".tmp." or ".old." (leftovers of an atomic write).
std::vector<std::string> Leftovers(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.find(".tmp.") != std::string::npos || n.find(".old.") != std::string::npos) found.push_back(n);
  }
  return found;
}

// Every stored field equal, codes byte for byte.
void ExpectSameQuantizedLinear(const Linear* la, const Linear* lb) {
  const StoredLinear* qa = la->stored_linear();
  const StoredLinear* qb = lb->stored_linear();
  ASSERT_NE(qa, nullptr);
  ASSERT_NE(qb, nullptr) << "the loaded linear is not quantized";
  EXPECT_EQ(qa->rows, qb->rows);
  EXPECT_EQ(qa->cols, qb->cols);
  EXPECT_EQ(qa->bits, qb->bits);
  EXPECT_EQ(qa->codebook, qb->codebook);
  EXPECT_EQ(qa->incoherence.incoherent, qb->incoherence.incoherent);
  if (qa->incoherence.incoherent) {  // seeds mean nothing (and are not stored) without incoherence
    EXPECT_EQ(qa->incoherence.rotation, qb->incoherence.rotation);
    EXPECT_EQ(qa->incoherence.seed_u, qb->incoherence.seed_u);
    EXPECT_EQ(qa->incoherence.seed_v, qb->incoherence.seed_v);
  }
  ASSERT_EQ(qa->RowBytes(), qb->RowBytes());
  EXPECT_EQ(0, std::memcmp(qa->codes(), qb->codes(), size_t(qa->rows) * qa->RowBytes()));
  EXPECT_EQ(qa->scale, qb->scale);
  EXPECT_EQ(qa->zero, qb->zero);
  EXPECT_EQ(qa->incoherence.rescale, qb->incoherence.rescale);
}

struct Case {
  const char* method;
  int bits;
  Rounding rounding;
  bool incoherence;
};

// QuIP# layers (E8P codes, RVQ at 3/4 bits, Hadamard or, for TinyConfig's 136 = 17·8, the
// Kronecker fallback): every field and the logits survive the round trip bit for bit.
TEST(QuipFormat, QuipSharpRoundTripKeepsCodesAndLogitsBitForBit) {
  for (int bits : {2, 3, 4}) {
    SCOPED_TRACE(bits);
    const std::string dir = testing::MakeTempDir("roundtrip-quipsharp-" + std::to_string(bits)) + "/fp32";
    testing::WriteHfFolder(testing::RandomWeights(testing::TinyConfig(), 11), dir);
    Model model = LoadModel(dir);
    QuantizeModelOptions options;
    options.config = ConfigForMethod("quipsharp", bits);
    options.config.seed = 3;
    options.method = "quipsharp";
    const nlohmann::json report = QuantizeModel(model, RandomWindows(model.config.vocab_size, 5), options);
    const std::string out = fs::path(dir).parent_path() / "quantized";
    WriteQuantizedModel(model, out, {{"quip.method", "quipsharp"}}, report, dir, false);
    const Model loaded = LoadModel(out);
    const auto mem = Linears(model), disk = Linears(loaded);
    ASSERT_EQ(mem.size(), disk.size());
    bool saw_rht = false, saw_kron = false;
    for (size_t i = 0; i < mem.size(); ++i) {
      ExpectSameQuantizedLinear(mem[i], disk[i]);
      const StoredLinear* b = disk[i]->stored_linear();
      ASSERT_NE(b, nullptr);
      EXPECT_EQ(b->codebook, Codebook::kE8P);
      EXPECT_EQ(disk[i]->Format(), "e8p-" + std::to_string(bits) + "bit");
      (b->incoherence.rotation == RotationKind::kRht ? saw_rht : saw_kron) = true;
    }
    EXPECT_TRUE(saw_rht && saw_kron) << "TinyConfig has Hadamard (48) and fallback (136) sizes";
    std::vector<int> tokens{1};
    for (int i = 1; i < 24; ++i) tokens.push_back((i * 37 + 5) % model.config.vocab_size);
    const std::vector<float> x = Logits(model, tokens), y = Logits(loaded, tokens);
    ASSERT_EQ(x.size(), y.size());
    EXPECT_EQ(0, std::memcmp(x.data(), y.data(), x.size() * sizeof(float))) << "logits differ after the round trip";
  }
}

TEST(QuipFormat, RoundTripKeepsEveryLinearAndLogitsBitForBit) {
  for (const Case& c : {Case{"quip", 2, Rounding::kLdlq, true}, Case{"near", 3, Rounding::kNearest, false},
                        Case{"ldlq", 4, Rounding::kLdlq, false}}) {
    SCOPED_TRACE(c.method);
    Quantized q = QuantizeTiny(std::string("roundtrip-") + c.method, c.method, c.bits, c.rounding, c.incoherence);
    const fs::path parent = fs::path(q.model.source).parent_path();
    const std::string out = (parent / "quantized").string();
    WriteQuantizedModel(q.model, out, q.metadata, q.report, q.model.source, false);
    EXPECT_THAT(Leftovers(parent), ::testing::IsEmpty());

    const Model loaded = LoadModel(out);
    EXPECT_EQ(loaded.format, "quip");
    const auto mem = Linears(q.model), disk = Linears(loaded);
    ASSERT_EQ(mem.size(), disk.size());
    ASSERT_EQ(mem.size(), 7u * q.model.config.n_layers);
    for (size_t i = 0; i < mem.size(); ++i) {
      SCOPED_TRACE(i);
      ExpectSameQuantizedLinear(mem[i], disk[i]);
      EXPECT_EQ(disk[i]->Format(), (c.incoherence ? "quip-" : "minmax-") + std::to_string(c.bits) + "bit");
    }
    // lm_head is not quantized and stays dense f32.
    ASSERT_NE(dynamic_cast<const DenseLinear*>(loaded.lm_head.get()), nullptr);

    std::vector<int> tokens{1};
    for (int i = 1; i < 24; ++i) tokens.push_back((i * 37 + 5) % q.model.config.vocab_size);
    const std::vector<float> a = Logits(q.model, tokens), b = Logits(loaded, tokens);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float))) << "logits differ after the round trip";
    for (float v : a) ASSERT_TRUE(std::isfinite(v));
  }
}

TEST(QuipFormat, MetadataConfigAndReport) {
  const std::string out = WriteTiny("metadata", "quip", 3);
  const SafetensorsFile file(out + "/model.safetensors");
  const auto& meta = file.metadata();
  for (const char* key : {"quip.format_version", "quip.linears", "quip.method", "quip.bits"})
    EXPECT_TRUE(meta.count(key)) << "__metadata__ lacks " << key;
  EXPECT_EQ(meta.at("quip.format_version"), kQuipFormatVersion);
  EXPECT_EQ(meta.at("quip.method"), "quip");
  EXPECT_EQ(meta.at("quip.bits"), "3");
  const nlohmann::json linears = nlohmann::json::parse(meta.at("quip.linears"));
  ASSERT_TRUE(linears.is_object());
  EXPECT_EQ(linears.size(), 7u * testing::TinyConfig().n_layers);
  const nlohmann::json& q0 = linears.at("model.layers.0.self_attn.q_proj");
  EXPECT_EQ(q0.at("bits"), 3);
  EXPECT_EQ(q0.at("incoherence"), "kron");
  EXPECT_TRUE(q0.at("seed_u").is_number_unsigned());
  EXPECT_TRUE(q0.at("seed_v").is_number_unsigned());
  // Tensor names of the frozen format: codes (U8, [rows, packed bytes]), one-value scale/zero, rescale.
  const LlamaConfig c = testing::TinyConfig();
  const SafetensorsTensor* codes = file.Find("model.layers.0.mlp.down_proj.codes");
  ASSERT_NE(codes, nullptr);
  EXPECT_EQ(codes->dtype, DType::kU8);
  EXPECT_EQ(codes->shape, (std::vector<int64_t>{c.dim, PackedBytes(c.hidden_dim, 3)}));
  ASSERT_NE(file.Find("model.layers.0.mlp.down_proj.scale"), nullptr);
  EXPECT_EQ(file.Find("model.layers.0.mlp.down_proj.scale")->shape, std::vector<int64_t>{1});
  ASSERT_NE(file.Find("model.layers.0.mlp.down_proj.rescale"), nullptr);
  EXPECT_EQ(file.Find("model.layers.0.mlp.down_proj.weight"), nullptr);
  EXPECT_NE(file.Find("lm_head.weight"), nullptr);

  const nlohmann::json config = nlohmann::json::parse(ReadText(out + "/config.json"));
  EXPECT_EQ(config.at("quantization_config").at("quant_method"), "quip");

  const nlohmann::json report = nlohmann::json::parse(ReadText(out + "/quant_report.json"));
  ASSERT_TRUE(report.contains("linears"));
  ASSERT_EQ(report["linears"].size(), 7u * c.n_layers);
  for (const auto& l : report["linears"]) {
    EXPECT_TRUE(l.contains("name"));
    ASSERT_TRUE(l.contains("relative_proxy_loss"));
    EXPECT_TRUE(std::isfinite(l["relative_proxy_loss"].get<double>()));
  }
  EXPECT_EQ(report.at("method"), "quip");
  EXPECT_EQ(report.at("bits"), 3);
}

TEST(QuipFormat, RefusesExistingFolderWithoutForceAndReplacesItWithForce) {
  Quantized q = QuantizeTiny("force", "quip", 2);
  const fs::path parent = fs::path(q.model.source).parent_path();
  const std::string out = (parent / "quantized").string();
  WriteQuantizedModel(q.model, out, q.metadata, {{"run", 1}}, q.model.source, false);
  try {
    WriteQuantizedModel(q.model, out, q.metadata, {{"run", 2}}, q.model.source, false);
    ADD_FAILURE() << "an existing out_dir was overwritten without force";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(out));
    EXPECT_THAT(e.what(), HasSubstr("already exists"));
  }
  EXPECT_EQ(nlohmann::json::parse(ReadText(out + "/quant_report.json")).at("run"), 1);
  // A file quip did not write makes the folder the user's: even --force keeps it (io/output_dir.h).
  fs::create_directories(out + "/mine");
  std::ofstream(out + "/mine/notes.txt") << "notes\n";
  try {
    WriteQuantizedModel(q.model, out, q.metadata, {{"run", 3}}, q.model.source, true);
    ADD_FAILURE() << "--force replaced a folder holding a user's files";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("'mine', which quip did not write"));
  }
  EXPECT_EQ(ReadText(out + "/mine/notes.txt"), "notes\n");
  EXPECT_EQ(nlohmann::json::parse(ReadText(out + "/quant_report.json")).at("run"), 1);
  fs::remove_all(out + "/mine");
  WriteQuantizedModel(q.model, out, q.metadata, {{"run", 3}}, q.model.source, true);
  EXPECT_EQ(nlohmann::json::parse(ReadText(out + "/quant_report.json")).at("run"), 3);
  EXPECT_THAT(Leftovers(parent), ::testing::IsEmpty());
  EXPECT_EQ(LoadModel(out).format, "quip");
}

TEST(QuipFormat, NeverWritesOverOrIntoTheInputModel) {
  Quantized q = QuantizeTiny("onto-input", "quip", 2);
  const std::string input = q.model.source;
  const std::string config = ReadText(input + "/config.json"), weights = ReadText(input + "/model.safetensors");
  for (const std::string& out : {input, input + "/quantized", fs::path(input).parent_path().string()}) {
    for (bool force : {false, true}) {
      SCOPED_TRACE(out + (force ? " --force" : ""));
      EXPECT_THROW(WriteQuantizedModel(q.model, out, q.metadata, q.report, input, force), Error);
    }
  }
  EXPECT_EQ(ReadText(input + "/config.json"), config);
  EXPECT_EQ(ReadText(input + "/model.safetensors"), weights);
  EXPECT_FALSE(fs::exists(input + "/quantized"));
  EXPECT_THAT(Leftovers(fs::path(input).parent_path()), ::testing::IsEmpty());
}

TEST(QuipFormat, WritesToAPathWithATrailingSlash) {
  // `quip quantize -o out/` used to fail: the temp folder "out/.tmp.PID" was created inside
  // the target, which then could not be renamed into its own subfolder.
  Quantized q = QuantizeTiny("trailing-slash", "quip", 2);
  const fs::path parent = fs::path(q.model.source).parent_path();
  const std::string out = (parent / "quantized").string() + "/";
  WriteQuantizedModel(q.model, out, q.metadata, q.report, q.model.source, false);
  EXPECT_EQ(LoadModel(out).format, "quip");
  WriteQuantizedModel(q.model, out, q.metadata, q.report, q.model.source, true);
  EXPECT_EQ(LoadModel(out).format, "quip");
  EXPECT_THAT(Leftovers(parent), ::testing::IsEmpty());
  EXPECT_THAT(Leftovers(out), ::testing::IsEmpty());
}

// ---- the loader's rejections, on folders edited by rewriting model.safetensors

using testing::StoredTensor;
using EditFn = std::function<void(std::map<std::string, std::string>& metadata, nlohmann::json& linears,
                                  std::map<std::string, StoredTensor>& tensors)>;

// Rewrites out/model.safetensors with `edit` applied; "quip.linears" is handed over parsed.
void Rewrite(const std::string& out, const EditFn& edit) {
  testing::RewriteSafetensors(out + "/model.safetensors", [&](std::map<std::string, std::string>& metadata,
                                                               std::map<std::string, StoredTensor>& tensors) {
    nlohmann::json linears = nlohmann::json::parse(metadata.at("quip.linears"));
    edit(metadata, linears, tensors);
    if (metadata.count("quip.linears")) metadata["quip.linears"] = linears.dump();
  });
}

using testing::ExpectLoadError;

const char* kQ = "model.layers.1.self_attn.q_proj";

void SetFloats(StoredTensor& t, const std::vector<float>& v) {
  t.bytes.resize(v.size() * sizeof(float));
  std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
}

TEST(QuipFormatRejects, UnknownCodebook) {
  const std::string out = WriteTiny("reject-codebook");
  Rewrite(out, [](auto&, nlohmann::json& linears, auto&) { linears[kQ]["codebook"] = "lattice"; });
  ExpectLoadError(out, {kQ, "codebook 'lattice' is not known to this build"});
}

TEST(QuipFormatRejects, E8PLayerWithTheWrongNumberOfStageScales) {
  // A 3-bit scalar layer relabelled e8p: its codes happen to have the e8p row length (3 bits
  // per weight either way), but e8p at 3 bits needs two stage scales, not one.
  const std::string out = WriteTiny("reject-e8p-scales", "quip", 3);
  Rewrite(out, [](auto&, nlohmann::json& linears, auto&) {
    linears[kQ]["codebook"] = "e8p";
    linears[kQ]["e8p_table"] = e8p::kTableRevision;
  });
  ExpectLoadError(out, {std::string(kQ) + ".scale", "shape"});
}

TEST(QuipFormatRejects, E8PLayerFromAnEarlierTable) {
  // Folders written before the published QuIP# table (no "e8p_table") hold indices that now
  // decode to other points in 2 of the 256 table rows: refused, never run as another model.
  const std::string out = testing::WriteTinyQuantizedFolder("reject-e8p-table", "quipsharp", 2);
  Rewrite(out, [](auto&, nlohmann::json& linears, auto&) { linears[kQ].erase("e8p_table"); });
  ExpectLoadError(out, {kQ, "E8P table revision 1", "quantize the model again"});
}

TEST(QuipFormatRejects, UnsupportedBitWidth) {
  const std::string out = WriteTiny("reject-bits5");
  Rewrite(out, [](auto&, nlohmann::json& linears, auto&) { linears[kQ]["bits"] = 5; });
  ExpectLoadError(out, {kQ, "bit width 5 is not supported"});
}

TEST(QuipFormatRejects, UnknownIncoherence) {
  const std::string out = WriteTiny("reject-incoherence");
  Rewrite(out, [](auto&, nlohmann::json& linears, auto&) { linears[kQ]["incoherence"] = "foo"; });
  ExpectLoadError(out, {kQ, "incoherence 'foo' is not supported"});
}

TEST(QuipFormatRejects, KronWithoutSeed) {
  const std::string out = WriteTiny("reject-seed");
  Rewrite(out, [](auto&, nlohmann::json& linears, auto&) { linears[kQ].erase("seed_v"); });
  ExpectLoadError(out, {kQ, "seed_v"});
}

TEST(QuipFormatRejects, CodesOfWrongShape) {
  const std::string out = WriteTiny("reject-codes-shape");
  const std::string name = std::string(kQ) + ".codes";
  Rewrite(out, [&](auto&, auto&, std::map<std::string, StoredTensor>& tensors) {
    StoredTensor& t = tensors.at(name);
    t.shape[1] += 1;
    t.bytes.resize(size_t(t.shape[0] * t.shape[1]), 0);
  });
  ExpectLoadError(out, {name, "shape"});
}

TEST(QuipFormatRejects, CodesOfWrongDtype) {
  const std::string out = WriteTiny("reject-codes-dtype");
  const std::string name = std::string(kQ) + ".codes";
  Rewrite(out, [&](auto&, auto&, std::map<std::string, StoredTensor>& tensors) { tensors.at(name).dtype = DType::kI8; });
  ExpectLoadError(out, {name, "dtype"});
}

TEST(QuipFormatRejects, NonFiniteScale) {
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    const std::string out = WriteTiny("reject-scale");
    const std::string name = std::string(kQ) + ".scale";
    Rewrite(out, [&](auto&, auto&, std::map<std::string, StoredTensor>& tensors) {
      StoredTensor& t = tensors.at(name);
      std::vector<float> v(t.bytes.size() / 4);
      std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
      v.back() = bad;
      SetFloats(t, v);
    });
    ExpectLoadError(out, {name, "non-finite"});
  }
}

TEST(QuipFormatRejects, NonPositiveRescale) {
  for (float bad : {0.0f, -1.0f}) {
    const std::string out = WriteTiny("reject-rescale");
    const std::string name = std::string(kQ) + ".rescale";
    Rewrite(out, [&](auto&, auto&, std::map<std::string, StoredTensor>& tensors) {
      StoredTensor& t = tensors.at(name);
      std::vector<float> v(t.bytes.size() / 4);
      std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
      v[3] = bad;
      SetFloats(t, v);
    });
    ExpectLoadError(out, {kQ, "rescale holds a non-positive"});
  }
}

TEST(QuipFormatRejects, MissingLinearsMetadata) {
  const std::string out = WriteTiny("reject-no-linears");
  Rewrite(out, [](std::map<std::string, std::string>& metadata, auto&, auto&) { metadata.erase("quip.linears"); });
  ExpectLoadError(out, {"quip.linears"});
}

TEST(QuipFormatRejects, LinearMissingFromLinearsMetadata) {
  const std::string out = WriteTiny("reject-linear-missing");
  Rewrite(out, [](auto&, nlohmann::json& linears, auto&) { linears.erase(kQ); });
  ExpectLoadError(out, {"quip.linears", kQ});
}

}  // namespace
}  // namespace quip
