#include "io/hf_model.h"

#include <filesystem>
#include <map>
#include <memory>
#include <set>

#include "core/error.h"
#include "io/json_file.h"
#include "io/safetensors.h"

namespace quip {
namespace fs = std::filesystem;

namespace {

int RequireInt(const nlohmann::json& j, const char* key, const std::string& where) {
  QUIP_CHECK_INPUT(j.contains(key), where, "missing required field '{}'", key);
  QUIP_CHECK_INPUT(j[key].is_number_integer(), where, "field '{}' must be an integer, got {}", key, j[key].dump());
  const int64_t v = j[key].get<int64_t>();
  QUIP_CHECK_INPUT(v >= INT32_MIN && v <= INT32_MAX, where, "field '{}' = {} is out of range", key, v);
  return static_cast<int>(v);
}

// Every tensor of a (possibly sharded) checkpoint, by name.
class TensorSource {
 public:
  explicit TensorSource(const std::string& dir) {
    const fs::path index = fs::path(dir) / "model.safetensors.index.json";
    const fs::path single = fs::path(dir) / "model.safetensors";
    if (fs::exists(single)) {
      AddFile(single.string());
    } else if (fs::exists(index)) {
      const nlohmann::json j = ReadJsonFile(index.string());
      QUIP_CHECK_INPUT(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), index.string(),
                       "missing object 'weight_map'");
      std::set<std::string> shards;
      for (const auto& [name, file] : j["weight_map"].items()) {
        QUIP_CHECK_INPUT(file.is_string(), index.string(), "weight_map entry '{}' is not a file name", name);
        const std::string shard = file.get<std::string>();
        QUIP_CHECK_INPUT(shard.find('/') == std::string::npos && shard.find("..") == std::string::npos,
                         index.string(), "weight_map entry '{}' names a path outside the folder: {}", name, shard);
        shards.insert(shard);
      }
      for (const auto& shard : shards) AddFile((fs::path(dir) / shard).string());
      for (const auto& [name, file] : j["weight_map"].items())
        QUIP_CHECK_INPUT(by_name_.count(name) && by_name_[name].first->path() == (fs::path(dir) / file.get<std::string>()).string(),
                         index.string(), "tensor '{}' is listed in {} but not stored there", name, file.get<std::string>());
    } else {
      Fail(dir, "no model.safetensors or model.safetensors.index.json in the folder");
    }
  }

  // Tensor `name` as fp32 with exactly `shape`; throws naming the file otherwise.
  TensorView Get(const std::string& name, const std::vector<int64_t>& shape, Model& model) {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) Fail(first_path_, "missing tensor '{}'", name);
    const auto& [file, tensor] = it->second;
    QUIP_CHECK_INPUT(tensor->shape == shape, file->path(), "tensor '{}' has shape {} but config.json implies {}", name,
                     ShapeString(tensor->shape), ShapeString(shape));
    model.tensors.push_back({name, DTypeName(tensor->dtype), tensor->shape, int64_t(tensor->end - tensor->begin)});
    return file->ReadF32(*tensor, model.owners);
  }
  bool Has(const std::string& name) const { return by_name_.count(name) > 0; }

 private:
  void AddFile(const std::string& path) {
    auto file = std::make_shared<SafetensorsFile>(path);
    if (first_path_.empty()) first_path_ = path;
    for (const auto& t : file->tensors()) {
      auto [it, inserted] = by_name_.try_emplace(t.name, file.get(), &t);
      QUIP_CHECK_INPUT(inserted, path, "tensor '{}' is also stored in {}", t.name, it->second.first->path());
    }
    files_.push_back(std::move(file));
  }

  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<const SafetensorsFile*, const SafetensorsTensor*>> by_name_;
  std::string first_path_;
};

}  // namespace

LlamaConfig ParseHfConfig(const std::string& path) {
  const nlohmann::json j = ReadJsonFile(path);
  QUIP_CHECK_INPUT(j.is_object(), path, "config.json is not a JSON object");
  const std::string model_type = j.value("model_type", "");
  QUIP_CHECK_INPUT(model_type == "llama" || model_type == "mistral", path,
                   "unsupported model_type '{}' (supported: llama, i.e. LlamaForCausalLM)", model_type);
  QUIP_CHECK_INPUT(j.value("hidden_act", "silu") == "silu", path, "unsupported hidden_act '{}' (supported: silu)",
                   j.value("hidden_act", ""));
  QUIP_CHECK_INPUT(!j.value("attention_bias", false) && !j.value("mlp_bias", false), path,
                   "attention_bias/mlp_bias are not supported");
  QUIP_CHECK_INPUT(!j.contains("rope_scaling") || j["rope_scaling"].is_null(), path,
                   "rope_scaling {} is not supported", j.contains("rope_scaling") ? j["rope_scaling"].dump() : "");

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
    QUIP_CHECK_INPUT(j[key].is_number(), path, "field '{}' must be a number, got {}", key, j[key].dump());
    return j[key].get<double>();
  };
  c.norm_eps = static_cast<float>(number("rms_norm_eps", 1e-6));
  c.rope_theta = static_cast<float>(number("rope_theta", 10000.0));
  c.tied_embeddings = j.value("tie_word_embeddings", false);
  if (j.contains("bos_token_id") && !j["bos_token_id"].is_null()) c.bos_id = RequireInt(j, "bos_token_id", path);
  if (j.contains("eos_token_id") && j["eos_token_id"].is_number_integer()) c.eos_id = RequireInt(j, "eos_token_id", path);
  c.Validate(path);
  return c;
}

Model LoadHfModel(const std::string& dir) {
  Model model;
  model.source = dir;
  model.format = "hf-safetensors";
  model.config = ParseHfConfig((fs::path(dir) / "config.json").string());
  const LlamaConfig& c = model.config;
  TensorSource source(dir);

  const int64_t d = c.dim, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim, v = c.vocab_size;
  auto linear = [&](const std::string& name, int64_t out, int64_t in) {
    return std::make_unique<DenseLinear>(source.Get(name, {out, in}, model));
  };
  model.token_embedding = source.Get("model.embed_tokens.weight", {v, d}, model);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights layer;
    layer.attn_norm = source.Get(p + "input_layernorm.weight", {d}, model);
    layer.q = linear(p + "self_attn.q_proj.weight", q, d);
    layer.k = linear(p + "self_attn.k_proj.weight", kv, d);
    layer.v = linear(p + "self_attn.v_proj.weight", kv, d);
    layer.o = linear(p + "self_attn.o_proj.weight", d, q);
    layer.ffn_norm = source.Get(p + "post_attention_layernorm.weight", {d}, model);
    layer.gate = linear(p + "mlp.gate_proj.weight", h, d);
    layer.up = linear(p + "mlp.up_proj.weight", h, d);
    layer.down = linear(p + "mlp.down_proj.weight", d, h);
    model.layers.push_back(std::move(layer));
  }
  model.final_norm = source.Get("model.norm.weight", {d}, model);
  if (c.tied_embeddings || !source.Has("lm_head.weight")) {
    QUIP_CHECK_INPUT(c.tied_embeddings, dir, "missing tensor 'lm_head.weight' and tie_word_embeddings is false");
    model.lm_head = std::make_unique<DenseLinear>(model.token_embedding);
  } else {
    model.lm_head = linear("lm_head.weight", v, d);
  }
  return model;
}

}  // namespace quip
