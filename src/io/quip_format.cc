#include "io/quip_format.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/checksum.h"
#include "io/hf_model.h"
#include "io/json_file.h"
#include "io/output_dir.h"
#include "model/incoherent_linear.h"
#include "format/e8p.h"
#include "format/rotation.h"
#include "format/stored_linear.h"

namespace quip {
namespace fs = std::filesystem;

namespace {

const char* kLinearsKey = kQuipLinearsKey;

// Reads a [1] or [rows] F32 tensor and broadcasts it to `rows` values.
std::vector<float> ReadPerRow(TensorSource& source, const std::string& name, int rows, Model& model) {
  const std::vector<int64_t>* shape = source.ShapeOf(name);
  QUIP_CHECK_INPUT(shape != nullptr, source.first_path(), "missing tensor '{}'", name);
  const bool uniform = *shape == std::vector<int64_t>{1};
  const TensorView v = source.Get(name, {uniform ? 1 : rows}, model);
  std::vector<float> values(size_t(rows), v.data[0]);
  if (!uniform) values.assign(v.data, v.data + rows);
  for (float x : values)
    QUIP_CHECK_INPUT(std::isfinite(x), source.first_path(), "tensor '{}' holds a non-finite value", name);
  return values;
}

// The codes' row length follows from config.json (the column count) and the metadata's bit
// width. When the rows match config.json but their length does not, the bit width is what
// disagrees (an edited "bits" in quip.linears): blame the metadata, not config.json.
void CheckCodesRowBytes(const TensorSource& source, const std::string& name, int code_rows, int cols, int bits,
                        int64_t row_bytes) {
  const std::vector<int64_t>* shape = source.ShapeOf(name + ".codes");
  if (shape == nullptr || shape->size() != 2 || (*shape)[0] != code_rows || (*shape)[1] == row_bytes) return;
  Fail(source.first_path(),
       "tensor '{}.codes' holds {} bytes per row, but the bit width {} in __metadata__ '{}' implies {} for {} "
       "columns: the metadata and the codes disagree",
       name, (*shape)[1], bits, kLinearsKey, row_bytes, cols);
}

// The codes tensor: CodeRows() × RowBytes() bytes.
void ReadCodes(TensorSource& source, const std::string& name, Model& model, StoredLinear* s) {
  CheckCodesRowBytes(source, name, s->CodeRows(), s->cols, s->bits, s->RowBytes());
  s->borrowed_codes = source.GetRaw(name + ".codes", DType::kU8, {s->CodeRows(), s->RowBytes()}, model);
}

// HYB's table, stored once per model: every linear with the hyb code shares it.
constexpr const char* kHybTableTensor = "quip.hyb_table";

}  // namespace

bool IsQuipCheckpoint(const TensorSource& source) { return source.metadata().count("quip.format_version") > 0; }

StoredLinear ReadStoredLinear(TensorSource& source, const std::string& name, int rows, int cols, Model& model) {
  const std::string& path = source.first_path();
  const auto& meta = source.metadata();
  QUIP_CHECK_INPUT(meta.count("quip.format_version") && meta.at("quip.format_version") == kQuipFormatVersion, path,
                   "unsupported quip format version '{}' (this build reads {})",
                   meta.count("quip.format_version") ? meta.at("quip.format_version") : "", kQuipFormatVersion);
  QUIP_CHECK_INPUT(meta.count(kLinearsKey), path, "__metadata__ lacks '{}'", kLinearsKey);
  const nlohmann::json linears = ParseJson(meta.at(kLinearsKey), path, fmt::format("__metadata__ '{}'", kLinearsKey));
  QUIP_CHECK_INPUT(linears.is_object() && linears.contains(name) && linears[name].is_object(), path,
                   "__metadata__ '{}' has no entry for '{}'", kLinearsKey, name);
  const nlohmann::json& info = linears[name];
  const std::string where = path + ": " + name;
  StoredLinear s;
  s.rows = rows;
  s.cols = cols;
  QUIP_CHECK_INPUT(info.contains("bits") && info["bits"].is_number_integer(), where, "missing integer 'bits'");
  // Read as 64 bits: get<int>() would wrap 2^32 + 2 to 2.
  const int64_t wide_bits = info["bits"].is_number_unsigned() ? int64_t(std::min<uint64_t>(info["bits"].get<uint64_t>(), INT64_MAX))
                                                              : info["bits"].get<int64_t>();
  QUIP_CHECK_INPUT(wide_bits >= 2 && wide_bits <= 4, where, "bit width {} is not supported (2, 3 or 4)", wide_bits);
  s.bits = static_cast<int>(wide_bits);
  QUIP_CHECK_INPUT(!info.contains("incoherence") || info["incoherence"].is_string(), where,
                   "'incoherence' must be a string, got {}", JsonExcerpt(info["incoherence"]));
  const std::string incoherence = info.value("incoherence", "");
  const std::optional<RotationKind> rotation = FindByName(kRotationNames, incoherence);
  QUIP_CHECK_INPUT(rotation || incoherence == "none", where, "incoherence '{}' is not supported ({}, none)",
                   incoherence.substr(0, 40), NamesOf(kRotationNames));
  Incoherence& inc = s.incoherence;
  inc.incoherent = rotation.has_value();
  inc.rotation = rotation.value_or(RotationKind::kKron);
  QUIP_CHECK_INPUT(!inc.incoherent || (RotationSupports(inc.rotation, rows) && RotationSupports(inc.rotation, cols)),
                   where, "incoherence '{}' cannot be built for a {}x{} layer", incoherence, rows, cols);
  QUIP_CHECK_INPUT(!info.contains("codebook") || info["codebook"].is_string(), where,
                   "'codebook' must be a string, got {}", JsonExcerpt(info["codebook"]));
  const std::string codebook = info.value("codebook", CodebookName(Codebook::kScalar));  // absent before QuIP#
  const std::optional<Codebook> known = FindByName(kCodebookNames, codebook);
  QUIP_CHECK_INPUT(known.has_value(), where, "codebook '{}' is not known to this build ({})", codebook.substr(0, 40),
                   NamesOf(kCodebookNames));
  s.codebook = *known;
  if (inc.incoherent) {
    QUIP_CHECK_INPUT(info.contains("seed_u") && info["seed_u"].is_number_unsigned() && info.contains("seed_v") &&
                         info["seed_v"].is_number_unsigned(),
                     where, "incoherent layer lacks unsigned 'seed_u'/'seed_v'");
    inc.seed_u = info["seed_u"].get<uint64_t>();
    inc.seed_v = info["seed_v"].get<uint64_t>();
  }

  if (source.Has(name + ".rescale")) {
    const TensorView r = source.Get(name + ".rescale", {cols}, model);
    inc.rescale.assign(r.data, r.data + cols);
    for (float v : inc.rescale)
      QUIP_CHECK_INPUT(std::isfinite(v) && v > 0.0f, where, "rescale holds a non-positive or non-finite value {}", v);
  }
  if (source.Has(name + ".output_scale")) {
    const TensorView r = source.Get(name + ".output_scale", {rows}, model);
    inc.output_scale.assign(r.data, r.data + rows);
    for (float v : inc.output_scale)
      QUIP_CHECK_INPUT(std::isfinite(v) && v > 0.0f, where, "output_scale holds a non-positive or non-finite value {}",
                       v);
  }
  switch (s.codebook) {
    case Codebook::kE8P: {
      const int table =
          info.contains("e8p_table") && info["e8p_table"].is_number_integer() ? info["e8p_table"].get<int>() : 1;
      QUIP_CHECK_INPUT(table == e8p::kTableRevision, where,
                       "E8P table revision {} (this build decodes revision {}: the published QuIP# table); "
                       "its codes would decode to other points, so quantize the model again",
                       table, e8p::kTableRevision);
      ReadCodes(source, name, model, &s);
      const int stages = E8PStages(s.bits);
      const TensorView v = source.Get(name + ".scale", {stages}, model);
      s.scale.assign(v.data, v.data + stages);
      for (float x : s.scale)
        QUIP_CHECK_INPUT(std::isfinite(x) && x > 0.0f, where, "scale holds a non-positive or non-finite value {}", x);
      break;
    }
    case Codebook::kTrellis: {
      QUIP_CHECK_INPUT(info.contains("code") && info["code"].is_string(), where, "trellis layer lacks a string 'code'");
      const std::string code = info["code"].get<std::string>();
      QUIP_CHECK_INPUT(trellis::ParseCode(code, &s.trellis_code), where,
                       "trellis code '{}' is not known to this build ({})", code.substr(0, 40), trellis::CodeNames());
      ReadCodes(source, name, model, &s);
      const TensorView v = source.Get(name + ".scale", {1}, model);
      s.scale.assign(v.data, v.data + 1);
      QUIP_CHECK_INPUT(std::isfinite(s.scale[0]) && s.scale[0] > 0.0f, where,
                       "scale holds a non-positive or non-finite value {}", s.scale[0]);
      if (s.trellis_code == trellis::Code::kHyb) {
        QUIP_CHECK_INPUT(source.Has(kHybTableTensor), path, "'{}' uses the hyb code but the file has no '{}'", name,
                         kHybTableTensor);
        const TensorView t = source.Get(kHybTableTensor, {1 << trellis::kHybTableBits, 2}, model);
        s.code_table.assign(t.data, t.data + (2 << trellis::kHybTableBits));
        for (float x : s.code_table)
          QUIP_CHECK_INPUT(std::isfinite(x), path, "tensor '{}' holds a non-finite value", kHybTableTensor);
      }
      break;
    }
    case Codebook::kScalar:
      ReadCodes(source, name, model, &s);
      s.scale = ReadPerRow(source, name + ".scale", rows, model);
      s.zero = ReadPerRow(source, name + ".zero", rows, model);
      break;
  }
  return s;
}

std::unique_ptr<Linear> ReadQuantizedLinear(TensorSource& source, const std::string& name, int rows, int cols,
                                            Model& model) {
  return std::make_unique<IncoherentLinear>(ReadStoredLinear(source, name, rows, cols, model));
}

void AddStoredLinear(SafetensorsWriter& writer, nlohmann::json& linears, const std::string& name,
                     const StoredLinear& s) {
  writer.Add(name + ".codes", DType::kU8, {s.CodeRows(), s.RowBytes()}, s.codes(), size_t(s.CodeRows()) * s.RowBytes());
  nlohmann::json info{{"bits", s.bits}, {"incoherence", s.incoherence.Name()}};
  switch (s.codebook) {
    case Codebook::kE8P:
      writer.AddF32(name + ".scale", {int64_t(s.scale.size())}, s.scale.data());
      info["codebook"] = CodebookName(s.codebook);
      info["e8p_table"] = e8p::kTableRevision;
      break;
    case Codebook::kTrellis:
      writer.AddF32(name + ".scale", {1}, s.scale.data());
      info["codebook"] = CodebookName(s.codebook);
      info["code"] = trellis::CodeName(s.trellis_code);
      if (s.trellis_code == trellis::Code::kHyb) {
        QUIP_ASSERT(s.code_table.size() == 2u << trellis::kHybTableBits);
        // One table per model: the quantizer gives every linear the same one.
        if (!writer.Has(kHybTableTensor)) writer.AddF32(kHybTableTensor, {1 << trellis::kHybTableBits, 2}, s.code_table.data());
      }
      break;
    case Codebook::kScalar: {  // no "codebook" key: the files before QuIP# stay byte-identical
      auto per_row = [&](const std::string& key, const std::vector<float>& v) {
        const bool uniform = std::all_of(v.begin(), v.end(), [&](float x) { return x == v[0]; });
        writer.AddF32(name + key, {uniform ? 1 : s.rows}, v.data());  // as StoredLinear::StoredBytes counts
      };
      per_row(".scale", s.scale);
      per_row(".zero", s.zero);
      break;
    }
  }
  if (!s.incoherence.rescale.empty()) writer.AddF32(name + ".rescale", {s.cols}, s.incoherence.rescale.data());
  if (!s.incoherence.output_scale.empty())
    writer.AddF32(name + ".output_scale", {s.rows}, s.incoherence.output_scale.data());
  if (s.incoherence.incoherent) {
    info["seed_u"] = s.incoherence.seed_u;
    info["seed_v"] = s.incoherence.seed_v;
  }
  linears[name] = info;
}

namespace {

void AddLinear(SafetensorsWriter& writer, nlohmann::json& linears, const std::string& name, const Linear& linear) {
  if (const TensorView* dense = linear.dense_weight()) {
    writer.AddF32(name + ".weight", dense->shape, dense->data);
    return;
  }
  const StoredLinear* stored = linear.stored_linear();
  QUIP_ASSERT(stored != nullptr);
  AddStoredLinear(writer, linears, name, *stored);
}

}  // namespace

void WriteQuantizedModel(const Model& model, const std::string& out_dir,
                         const std::map<std::string, std::string>& run_metadata, const nlohmann::json& report,
                         const std::string& tokenizer_dir, bool force) {
  const LlamaConfig& c = model.config;
  // Checked again here (quantize checked before calibrating): the place may have changed since.
  StagedOutputDir staged(out_dir, {model.source}, force);
  SafetensorsWriter writer;
  nlohmann::json linears = nlohmann::json::object();
  writer.AddF32("model.embed_tokens.weight", model.token_embedding.shape, model.token_embedding.data);
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& w = model.layers[l];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    // The architecture's own names (io/hf_model.h), as the loader reads them back.
    for (const LayerTensorSlot& t : LayerTensorSlots(c)) writer.AddF32(p + t.name, {t.size}, (w.*t.slot).data);
    for (const LayerLinearSlot& t : LayerLinearSlots(c)) AddLinear(writer, linears, p + t.name, *(w.*t.slot));
  }
  writer.AddF32("model.norm.weight", {c.dim}, model.final_norm.data);
  if (!c.tied_embeddings) AddLinear(writer, linears, "lm_head", *model.lm_head);
  writer.SetMetadata("format", "pt");
  writer.SetMetadata("quip.format_version", kQuipFormatVersion);
  writer.SetMetadata(kLinearsKey, linears.dump());
  writer.SetMetadata(kChecksumsKey, ChecksumsOf(writer, linears).dump());
  writer.SetMetadata(kConfigChecksumKey, ConfigChecksum(c));
  for (const auto& [k, v] : run_metadata) writer.SetMetadata(k, v);

  const fs::path temp = staged.path();
  writer.Write((temp / "model.safetensors").string());
  nlohmann::ordered_json config = nlohmann::ordered_json::parse(HfConfigJson(c));
  config["quantization_config"] = {{"quant_method", "quip"}, {"format_version", kQuipFormatVersion}};
  for (const auto& [k, v] : run_metadata) config["quantization_config"][k.substr(k.find('.') + 1)] = v;
  WriteFileAtomically((temp / "config.json").string(), config.dump(2) + "\n");
  WriteFileAtomically((temp / "quant_report.json").string(), report.dump(2) + "\n");
  for (const char* name : {"tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
                           "generation_config.json", "tokenizer.bin", "tokenizer.json"})
    if (fs::exists(fs::path(tokenizer_dir) / name)) fs::copy_file(fs::path(tokenizer_dir) / name, temp / name);
  const std::string tok = "tok" + std::to_string(c.vocab_size) + ".bin";
  if (fs::exists(fs::path(tokenizer_dir) / tok)) fs::copy_file(fs::path(tokenizer_dir) / tok, temp / tok);
  staged.Commit();
}

}  // namespace quip
