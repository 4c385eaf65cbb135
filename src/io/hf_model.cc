#include "io/hf_model.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>

#include "core/error.h"
#include "io/checksum.h"
#include "io/json_file.h"
#include "io/quip_format.h"
#include "io/tensor_source.h"

namespace quip {
namespace fs = std::filesystem;

namespace {

int RequireInt(const nlohmann::json& j, const char* key, const std::string& where) {
  QUIP_CHECK_INPUT(j.contains(key), where, "missing required field '{}'", key);
  QUIP_CHECK_INPUT(j[key].is_number_integer(), where, "field '{}' must be an integer, got {}", key,
                   JsonExcerpt(j[key]));
  QUIP_CHECK_INPUT(!j[key].is_number_unsigned() || j[key].get<uint64_t>() <= uint64_t{INT32_MAX}, where,
                   "field '{}' = {} is out of range", key, j[key].get<uint64_t>());
  const int64_t v = j[key].get<int64_t>();
  QUIP_CHECK_INPUT(v >= INT32_MIN && v <= INT32_MAX, where, "field '{}' = {} is out of range", key, v);
  return static_cast<int>(v);
}

// Optional fields with a type check (nlohmann's json::value() would throw an exception
// that names neither the file nor the field).
std::string OptionalString(const nlohmann::json& j, const char* key, const std::string& fallback,
                           const std::string& where) {
  if (!j.contains(key)) return fallback;
  QUIP_CHECK_INPUT(j[key].is_string(), where, "field '{}' must be a string, got {}", key, JsonExcerpt(j[key]));
  return j[key].get<std::string>();
}

bool OptionalBool(const nlohmann::json& j, const char* key, bool fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  QUIP_CHECK_INPUT(j[key].is_boolean(), where, "field '{}' must be a boolean, got {}", key, JsonExcerpt(j[key]));
  return j[key].get<bool>();
}

// Old Hugging Face exports store RoPE's inverse frequencies per layer; they must be the
// ones rope_theta and head_dim give (a scaled RoPE baked into them would change the math).
void CheckInvFreq(TensorSource& source, const std::string& name, const LlamaConfig& c, Model& model) {
  const int half = c.head_dim / 2;
  const TensorView stored = source.Get(name, {half}, model);
  for (int i = 0; i < half; ++i) {
    const double expected = 1.0 / std::pow(double(c.rope_theta), 2.0 * i / c.head_dim);
    QUIP_CHECK_INPUT(std::fabs(stored.data[i] - expected) <= 1e-5 * expected, source.first_path(),
                     "tensor '{}' = {} at {} is not the inverse frequency {} that rope_theta {} and head_dim {} give",
                     name, stored.data[i], i, expected, c.rope_theta, c.head_dim);
  }
}

// Fields of related architectures that change the math; this build computes only their
// neutral value (absent and null count as neutral), so any other value is refused.
void RefuseNonNeutralFields(const nlohmann::json& j, const std::string& path) {
  const std::pair<const char*, nlohmann::json> kNeutral[] = {
      {"partial_rotary_factor", 1.0},  {"attn_logit_softcapping", nullptr}, {"final_logit_softcapping", nullptr},
      {"logits_scaling", 1.0},         {"embedding_multiplier", 1.0},       {"residual_multiplier", 1.0},
      {"use_qk_norm", false},          {"qk_layernorm", false},
  };
  for (const auto& [key, neutral] : kNeutral) {
    if (!j.contains(key) || j[key].is_null() || j[key] == neutral) continue;
    Fail(path, "{} = {} is not supported (this build computes only {})", key, JsonExcerpt(j[key]), neutral.dump());
  }
}

}  // namespace

LlamaConfig ParseHfConfig(const std::string& path) {
  const nlohmann::json j = ReadJsonFile(path);
  QUIP_CHECK_INPUT(j.is_object(), path, "config.json is not a JSON object");
  const std::string model_type = OptionalString(j, "model_type", "", path);
  QUIP_CHECK_INPUT(model_type == "llama" || model_type == "mistral", path,
                   "unsupported model_type '{}' (supported: llama, i.e. LlamaForCausalLM)", model_type.substr(0, 40));
  const std::string hidden_act = OptionalString(j, "hidden_act", "silu", path);
  QUIP_CHECK_INPUT(hidden_act == "silu", path, "unsupported hidden_act '{}' (supported: silu)",
                   hidden_act.substr(0, 40));
  for (const char* bias : {"attention_bias", "mlp_bias"})
    QUIP_CHECK_INPUT(!OptionalBool(j, bias, false, path), path, "{} = true is not supported (no bias terms)", bias);
  QUIP_CHECK_INPUT(!j.contains("rope_scaling") || j["rope_scaling"].is_null(), path,
                   "rope_scaling {} is not supported", j.contains("rope_scaling") ? JsonExcerpt(j["rope_scaling"]) : "");
  RefuseNonNeutralFields(j, path);

  LlamaConfig c;
  c.dim = RequireInt(j, "hidden_size", path);
  c.hidden_dim = RequireInt(j, "intermediate_size", path);
  c.n_layers = RequireInt(j, "num_hidden_layers", path);
  c.n_heads = RequireInt(j, "num_attention_heads", path);
  c.n_kv_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                     ? RequireInt(j, "num_key_value_heads", path)
                     : c.n_heads;
  c.vocab_size = RequireInt(j, "vocab_size", path);
  c.max_seq_len = j.contains("max_position_embeddings") ? RequireInt(j, "max_position_embeddings", path) : 2048;
  c.head_dim = j.contains("head_dim") && !j["head_dim"].is_null() ? RequireInt(j, "head_dim", path)
                                                                   : (c.n_heads > 0 ? c.dim / c.n_heads : 0);
  auto number = [&](const char* key, double fallback) {
    if (!j.contains(key) || j[key].is_null()) return fallback;
    QUIP_CHECK_INPUT(j[key].is_number(), path, "field '{}' must be a number, got {}", key, JsonExcerpt(j[key]));
    const double v = j[key].get<double>();
    // Converting a double outside float's range to float is undefined behaviour.
    QUIP_CHECK_INPUT(std::isfinite(v) && std::fabs(v) <= std::numeric_limits<float>::max(), path,
                     "field '{}' = {} must be a finite number within float range", key, v);
    return v;
  };
  c.norm_eps = static_cast<float>(number("rms_norm_eps", 1e-6));
  c.rope_theta = static_cast<float>(number("rope_theta", 10000.0));
  c.tied_embeddings = OptionalBool(j, "tie_word_embeddings", false, path);
  // Mistral attends to the last sliding_window positions only (null: all; absent: HF's
  // MistralConfig default 4096); HF's Llama ignores the field, so there it is ambiguous
  // and refused.
  if (model_type == "mistral" && !j.contains("sliding_window")) c.sliding_window = 4096;
  if (j.contains("sliding_window") && !j["sliding_window"].is_null()) {
    QUIP_CHECK_INPUT(model_type == "mistral", path,
                     "sliding_window is set but model_type '{}' has no sliding-window attention (use model_type "
                     "mistral, or remove the field or set it to null)", model_type);
    c.sliding_window = RequireInt(j, "sliding_window", path);
    QUIP_CHECK_INPUT(c.sliding_window >= 1, path, "sliding_window = {} must be at least 1 (null: full attention)",
                     c.sliding_window);
  }
  if (j.contains("bos_token_id") && !j["bos_token_id"].is_null()) c.bos_id = RequireInt(j, "bos_token_id", path);
  if (j.contains("eos_token_id") && j["eos_token_id"].is_number_integer()) c.eos_id = RequireInt(j, "eos_token_id", path);
  c.Validate(path);
  return c;
}

std::string HfConfigJson(const LlamaConfig& c) {
  const bool mistral = c.sliding_window > 0;  // the only architecture with a sliding window
  nlohmann::ordered_json j{{"architectures", {mistral ? "MistralForCausalLM" : "LlamaForCausalLM"}},
                           {"model_type", mistral ? "mistral" : "llama"},
                           {"hidden_act", "silu"},
                           {"hidden_size", c.dim},
                           {"intermediate_size", c.hidden_dim},
                           {"num_hidden_layers", c.n_layers},
                           {"num_attention_heads", c.n_heads},
                           {"num_key_value_heads", c.n_kv_heads},
                           {"head_dim", c.head_dim},
                           {"max_position_embeddings", c.max_seq_len},
                           {"rms_norm_eps", c.norm_eps},
                           {"rope_theta", c.rope_theta},
                           {"rope_scaling", nullptr},
                           {"tie_word_embeddings", c.tied_embeddings},
                           {"vocab_size", c.vocab_size},
                           {"bos_token_id", c.bos_id},
                           {"eos_token_id", c.eos_id},
                           {"torch_dtype", "float32"}};
  if (mistral) j["sliding_window"] = c.sliding_window;
  return j.dump(2);
}

Model LoadHfModel(const std::string& dir) {
  Model model;
  model.source = dir;
  model.format = "hf-safetensors";
  model.config = ParseHfConfig((fs::path(dir) / "config.json").string());
  const LlamaConfig& c = model.config;
  TensorSource source(dir);
  if (IsQuipCheckpoint(source)) model.format = "quip";

  const int64_t d = c.dim, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim, v = c.vocab_size;
  // A linear layer is dense ("<name>.weight") or, in quip folders, packed codes ("<name>.codes").
  auto linear = [&](const std::string& name, int64_t out, int64_t in) -> std::unique_ptr<Linear> {
    if (!source.Has(name + ".weight") && source.Has(name + ".codes"))
      return ReadQuantizedLinear(source, name, int(out), int(in), model);
    QUIP_CHECK_INPUT(model.format != "quip" || source.Has(name + ".weight"), source.first_path(),
                     "missing tensor '{}.codes' (or a dense '{}.weight')", name, name);
    return std::make_unique<DenseLinear>(source.Get(name + ".weight", {out, in}, model));
  };
  model.token_embedding = source.Get("model.embed_tokens.weight", {v, d}, model);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights layer;
    layer.attn_norm = source.Get(p + "input_layernorm.weight", {d}, model);
    layer.q = linear(p + "self_attn.q_proj", q, d);
    layer.k = linear(p + "self_attn.k_proj", kv, d);
    layer.v = linear(p + "self_attn.v_proj", kv, d);
    layer.o = linear(p + "self_attn.o_proj", d, q);
    layer.ffn_norm = source.Get(p + "post_attention_layernorm.weight", {d}, model);
    layer.gate = linear(p + "mlp.gate_proj", h, d);
    layer.up = linear(p + "mlp.up_proj", h, d);
    layer.down = linear(p + "mlp.down_proj", d, h);
    if (source.Has(p + "self_attn.rotary_emb.inv_freq")) CheckInvFreq(source, p + "self_attn.rotary_emb.inv_freq", c, model);
    model.layers.push_back(std::move(layer));
  }
  model.final_norm = source.Get("model.norm.weight", {d}, model);
  if (c.tied_embeddings) {
    model.lm_head = std::make_unique<DenseLinear>(model.token_embedding);
    // Some exports store the tied head anyway; only an exact copy of the embedding is harmless.
    if (source.Has("lm_head.weight")) {
      const TensorView head = source.Get("lm_head.weight", {v, d}, model);
      QUIP_CHECK_INPUT(std::equal(head.data, head.data + head.numel(), model.token_embedding.data), source.first_path(),
                       "tie_word_embeddings is true but the stored 'lm_head.weight' differs from "
                       "'model.embed_tokens.weight'");
    }
  } else {
    model.lm_head = linear("lm_head", v, d);
  }
  source.CheckAllUsed();
  // After the fields' own checks, which name what is wrong more precisely.
  if (model.format == "quip") {
    VerifyChecksums(source);
    VerifyConfigChecksum(source, c, (fs::path(dir) / "config.json").string());
  }
  return model;
}

}  // namespace quip
