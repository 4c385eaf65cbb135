#include "io/hf_model.h"

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <set>

#include "core/error.h"
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
  QUIP_CHECK_INPUT(!OptionalBool(j, "attention_bias", false, path) && !OptionalBool(j, "mlp_bias", false, path), path,
                   "attention_bias/mlp_bias are not supported");
  QUIP_CHECK_INPUT(!j.contains("rope_scaling") || j["rope_scaling"].is_null(), path,
                   "rope_scaling {} is not supported", j.contains("rope_scaling") ? JsonExcerpt(j["rope_scaling"]) : "");

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
  if (j.contains("bos_token_id") && !j["bos_token_id"].is_null()) c.bos_id = RequireInt(j, "bos_token_id", path);
  if (j.contains("eos_token_id") && j["eos_token_id"].is_number_integer()) c.eos_id = RequireInt(j, "eos_token_id", path);
  c.Validate(path);
  return c;
}

std::string HfConfigJson(const LlamaConfig& c) {
  nlohmann::ordered_json j{{"architectures", {"LlamaForCausalLM"}},
                           {"model_type", "llama"},
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
    model.layers.push_back(std::move(layer));
  }
  model.final_norm = source.Get("model.norm.weight", {d}, model);
  if (c.tied_embeddings) {
    model.lm_head = std::make_unique<DenseLinear>(model.token_embedding);
  } else {
    model.lm_head = linear("lm_head", v, d);
  }
  return model;
}

}  // namespace quip
