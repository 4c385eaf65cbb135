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
#include "model/half_linear.h"

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
  const std::vector<double> inv_freq = c.RopeInverseFrequencies();
  for (int i = 0; i < half; ++i) {
    const double expected = inv_freq[i];
    QUIP_CHECK_INPUT(std::fabs(stored.data[i] - expected) <= 1e-5 * expected, source.first_path(),
                     "tensor '{}' = {} at {} is not the inverse frequency {} that rope_theta {}, head_dim {} and rope_scaling give",
                     name, stored.data[i], i, expected, c.rope_theta, c.head_dim);
  }
}

// The families quip runs: config.json's model_type and the class Hugging Face loads it with.
struct Family {
  const char* model_type;
  const char* architecture;
};
constexpr Family kFamilies[] = {
    {"llama", "LlamaForCausalLM"},  {"mistral", "MistralForCausalLM"}, {"qwen2", "Qwen2ForCausalLM"},
    {"qwen3", "Qwen3ForCausalLM"},  {"phi3", "Phi3ForCausalLM"},       {"gemma2", "Gemma2ForCausalLM"},
    {"gemma3_text", "Gemma3ForCausalLM"},
};

std::string FamilyNames() {
  std::string names;
  for (const Family& f : kFamilies) names += (names.empty() ? "" : ", ") + std::string(f.model_type);
  return names;
}

bool IsGemma(const std::string& model_type) { return model_type == "gemma2" || model_type == "gemma3_text"; }

// Fields of related architectures that change the math; this build computes only their
// neutral value (absent and null count as neutral), so any other value is refused.
void RefuseNonNeutralFields(const nlohmann::json& j, const std::string& model_type, const std::string& path) {
  const bool gemma = IsGemma(model_type);
  const std::pair<const char*, nlohmann::json> kNeutral[] = {
      {"partial_rotary_factor", 1.0},  {"attn_logit_softcapping", nullptr}, {"final_logit_softcapping", nullptr},
      {"logits_scaling", 1.0},         {"embedding_multiplier", 1.0},       {"residual_multiplier", 1.0},
      {"use_qk_norm", false},          {"qk_layernorm", false},             {"use_sliding_window", false},
      {"mlp_bias", false},             {"attention_multiplier", nullptr},   {"use_bidirectional_attention", false},
  };
  for (const auto& [key, neutral] : kNeutral) {
    if (gemma && std::string(key).ends_with("_softcapping")) continue;  // Gemma computes them
    if (!j.contains(key) || j[key].is_null() || j[key] == neutral) continue;
    Fail(path, "{} = {} is not supported (this build computes only {})", key, JsonExcerpt(j[key]), neutral.dump());
  }
}

// rope_scaling: null, or the types of model/config.h (RopeScaling) with their fields.
RopeScaling ParseRopeScaling(const nlohmann::json& j, const std::string& path) {
  RopeScaling r;
  if (!j.contains("rope_scaling") || j["rope_scaling"].is_null()) return r;
  const nlohmann::json& s = j["rope_scaling"];
  QUIP_CHECK_INPUT(s.is_object(), path, "rope_scaling must be an object or null, got {}", JsonExcerpt(s));
  const std::string type = s.contains("rope_type") ? OptionalString(s, "rope_type", "", path)
                                                   : OptionalString(s, "type", "", path);
  if (type == "default") return r;
  QUIP_CHECK_INPUT(type == "linear" || type == "llama3", path,
                   "rope_scaling {} is not supported (rope_type '{}'; supported: linear, llama3)", JsonExcerpt(s),
                   type.substr(0, 40));
  auto number = [&](const char* key) {
    QUIP_CHECK_INPUT(s.contains(key) && s[key].is_number(), path, "rope_scaling of type {} needs a number '{}', got {}",
                     type, key, JsonExcerpt(s));
    const double v = s[key].get<double>();
    QUIP_CHECK_INPUT(std::isfinite(v) && v > 0.0 && v < 1e9, path, "rope_scaling.{} = {} must be positive", key, v);
    return v;
  };
  r.type = type;
  r.factor = number("factor");
  if (type == "llama3") {
    r.low_freq_factor = number("low_freq_factor");
    r.high_freq_factor = number("high_freq_factor");
    r.original_max_position_embeddings = static_cast<int>(number("original_max_position_embeddings"));
    QUIP_CHECK_INPUT(r.high_freq_factor > r.low_freq_factor, path,
                     "rope_scaling.high_freq_factor {} must exceed low_freq_factor {}", r.high_freq_factor,
                     r.low_freq_factor);
  }
  for (const auto& [key, value] : s.items()) {  // e.g. attention_factor, which would scale the math
    static const std::set<std::string> kKnown = {"rope_type", "type", "factor", "low_freq_factor", "high_freq_factor",
                                                 "original_max_position_embeddings"};
    QUIP_CHECK_INPUT(kKnown.count(key), path, "rope_scaling.{} = {} is not supported", key, JsonExcerpt(value));
  }
  return r;
}

// Which layers use the sliding window: config.json's layer_types when given, else the
// family's pattern (Gemma 2: every other layer from the first; Gemma 3: all but every
// sliding_window_pattern-th). Empty: all layers alike.
std::vector<bool> ParseSlidingLayers(const nlohmann::json& j, const std::string& model_type, int n_layers,
                                     const std::string& path) {
  std::vector<bool> sliding;
  if (j.contains("layer_types") && !j["layer_types"].is_null()) {
    const nlohmann::json& types = j["layer_types"];
    QUIP_CHECK_INPUT(types.is_array(), path, "layer_types must be an array, got {}", JsonExcerpt(types));
    for (const auto& t : types) {
      QUIP_CHECK_INPUT(t == "full_attention" || t == "sliding_attention", path,
                       "layer_types entry {} is not supported (full_attention or sliding_attention)", JsonExcerpt(t));
      sliding.push_back(t == "sliding_attention");
    }
    return sliding;
  }
  if (model_type == "gemma2") {
    for (int l = 0; l < n_layers; ++l) sliding.push_back((l + 1) % 2 != 0);
  } else if (model_type == "gemma3_text") {
    const int pattern = j.contains("sliding_window_pattern") ? RequireInt(j, "sliding_window_pattern", path) : 6;
    QUIP_CHECK_INPUT(pattern >= 1, path, "sliding_window_pattern = {} must be at least 1", pattern);
    for (int l = 0; l < n_layers; ++l) sliding.push_back((l + 1) % pattern != 0);
  }
  return sliding;
}

}  // namespace

LlamaConfig ParseHfConfig(const std::string& path) {
  const nlohmann::json j = ReadJsonFile(path);
  QUIP_CHECK_INPUT(j.is_object(), path, "config.json is not a JSON object");
  const std::string model_type = OptionalString(j, "model_type", "", path);
  QUIP_CHECK_INPUT(model_type != "gemma3", path,
                   "model_type 'gemma3' is the multimodal Gemma 3 (vision tower, text_config); quip runs its text-only "
                   "form, model_type gemma3_text (Gemma3ForCausalLM)");
  QUIP_CHECK_INPUT(std::any_of(std::begin(kFamilies), std::end(kFamilies),
                               [&](const Family& f) { return model_type == f.model_type; }),
                   path, "unsupported model_type '{}' (supported: {})", model_type.substr(0, 40), FamilyNames());
  const bool gemma = IsGemma(model_type);
  // Gemma names its activation hidden_activation (hidden_act is the older key).
  const char* act_key = gemma && j.contains("hidden_activation") && !j["hidden_activation"].is_null()
                            ? "hidden_activation"
                            : "hidden_act";
  const std::string act = OptionalString(j, act_key, gemma ? "gelu_pytorch_tanh" : "silu", path);
  const std::string want_act = gemma ? "gelu_pytorch_tanh" : "silu";
  QUIP_CHECK_INPUT(act == want_act, path, "unsupported {} '{}' (model_type {} computes {})", act_key,
                   act.substr(0, 40), model_type, want_act);
  RefuseNonNeutralFields(j, model_type, path);

  LlamaConfig c;
  c.model_type = model_type;
  c.activation = gemma ? Activation::kGeluTanh : Activation::kSilu;
  c.dim = RequireInt(j, "hidden_size", path);
  c.hidden_dim = RequireInt(j, "intermediate_size", path);
  c.n_layers = RequireInt(j, "num_hidden_layers", path);
  c.n_heads = RequireInt(j, "num_attention_heads", path);
  c.n_kv_heads = j.contains("num_key_value_heads") && !j["num_key_value_heads"].is_null()
                     ? RequireInt(j, "num_key_value_heads", path)
                     : c.n_heads;
  c.vocab_size = RequireInt(j, "vocab_size", path);
  c.max_seq_len = j.contains("max_position_embeddings") ? RequireInt(j, "max_position_embeddings", path) : 2048;
  // Absent head_dim: the family's config class default (Qwen3Config 128, Gemma 256).
  const int default_head_dim = model_type == "qwen3" ? 128 : gemma ? 256 : (c.n_heads > 0 ? c.dim / c.n_heads : 0);
  c.head_dim = j.contains("head_dim") && !j["head_dim"].is_null() ? RequireInt(j, "head_dim", path) : default_head_dim;
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
  c.rope_theta = static_cast<float>(number("rope_theta", model_type == "gemma3_text" ? 1e6 : 10000.0));
  c.rope_scaling = ParseRopeScaling(j, path);
  c.tied_embeddings = OptionalBool(j, "tie_word_embeddings", gemma, path);

  // Biases: attention_bias puts them on q/k/v/o (Llama, Qwen 3, Gemma); Qwen 2 always has
  // them on q/k/v and never on o.
  const bool attention_bias = OptionalBool(j, "attention_bias", false, path);
  QUIP_CHECK_INPUT(!(attention_bias && model_type == "qwen2"), path,
                   "attention_bias = true is not supported for qwen2 (its q/k/v biases are implied, o_proj has none)");
  QUIP_CHECK_INPUT(!(attention_bias && (model_type == "mistral" || model_type == "phi3")), path,
                   "attention_bias = true is not supported for {} (its attention has no biases)", model_type);
  c.qkv_bias = attention_bias || model_type == "qwen2";
  c.o_bias = attention_bias;
  c.qk_norm = model_type == "qwen3" || model_type == "gemma3_text";
  c.fused_qkv = c.fused_gate_up = model_type == "phi3";
  if (gemma) {
    c.norm_offset = 1.0f;
    c.sandwich_norms = true;
    // HF multiplies by hidden_size**0.5 cast to the activations' dtype (fp32 here).
    c.embed_scale = static_cast<float>(std::sqrt(double(c.dim)));
    c.query_pre_attn_scalar = static_cast<float>(number("query_pre_attn_scalar", 256.0));
    QUIP_CHECK_INPUT(c.query_pre_attn_scalar > 0.0f, path, "query_pre_attn_scalar must be positive");
    // Gemma2Config's defaults are 50 and 30; Gemma3TextConfig's are null (none).
    const bool g2 = model_type == "gemma2";
    auto cap = [&](const char* key, double gemma2_default) {
      if (!j.contains(key)) return static_cast<float>(g2 ? gemma2_default : 0.0);
      const double v = number(key, 0.0);
      QUIP_CHECK_INPUT(v >= 0.0, path, "{} = {} must be positive (null: none)", key, v);
      return static_cast<float>(v);
    };
    c.attn_softcap = cap("attn_logit_softcapping", 50.0);
    c.final_softcap = cap("final_logit_softcapping", 30.0);
    if (model_type == "gemma3_text") c.rope_local_theta = static_cast<float>(number("rope_local_base_freq", 10000.0));
  } else {
    for (const char* key : {"query_pre_attn_scalar", "rope_local_base_freq"})
      QUIP_CHECK_INPUT(!j.contains(key) || j[key].is_null(), path,
                       "{} is set but model_type '{}' does not use it (only Gemma does)", key, model_type);
  }

  // Sliding windows. Mistral attends to the last sliding_window positions only (null: all;
  // absent: HF's MistralConfig default 4096), Phi-3 likewise (absent: none), Gemma on the
  // layers ParseSlidingLayers names (absent: 4096). Qwen's window needs use_sliding_window
  // (refused above), so there the field is inert; HF's Llama ignores it, so there it is
  // ambiguous and refused.
  const bool windowed = model_type == "mistral" || model_type == "phi3" || gemma;
  if ((model_type == "mistral" || gemma) && !j.contains("sliding_window")) c.sliding_window = 4096;
  if (j.contains("sliding_window") && !j["sliding_window"].is_null() && model_type != "qwen2" && model_type != "qwen3") {
    QUIP_CHECK_INPUT(windowed, path,
                     "sliding_window is set but model_type '{}' has no sliding-window attention (use model_type "
                     "mistral, or remove the field or set it to null)", model_type);
    c.sliding_window = RequireInt(j, "sliding_window", path);
    QUIP_CHECK_INPUT(c.sliding_window >= 1, path, "sliding_window = {} must be at least 1 (null: full attention)",
                     c.sliding_window);
  }
  c.sliding_layers = ParseSlidingLayers(j, model_type, c.n_layers, path);
  const bool any_sliding = std::find(c.sliding_layers.begin(), c.sliding_layers.end(), true) != c.sliding_layers.end();
  QUIP_CHECK_INPUT(!any_sliding || windowed, path,
                   "layer_types has sliding_attention layers but model_type '{}' has no sliding-window attention here",
                   model_type);
  if (j.contains("bos_token_id") && !j["bos_token_id"].is_null()) c.bos_id = RequireInt(j, "bos_token_id", path);
  if (j.contains("eos_token_id") && j["eos_token_id"].is_number_integer()) c.eos_id = RequireInt(j, "eos_token_id", path);
  // Llama 3.1 lists several (end_of_text, eom, eot): generation stops at the first.
  if (j.contains("eos_token_id") && j["eos_token_id"].is_array() && !j["eos_token_id"].empty() &&
      j["eos_token_id"][0].is_number_integer()) {
    const nlohmann::json first = {{"eos_token_id", j["eos_token_id"][0]}};
    c.eos_id = RequireInt(first, "eos_token_id", path);
  }
  c.Validate(path);
  return c;
}

std::string HfConfigJson(const LlamaConfig& c) {
  // Llama and Mistral folders keep the exact text of earlier versions (their config checksums).
  // (a Llama config with a window is a Mistral one, a Mistral one without is a Llama one).
  const bool llama_like = c.model_type == "llama" || c.model_type == "mistral";
  const std::string model_type = llama_like ? (c.sliding_window > 0 ? "mistral" : "llama") : c.model_type;
  const char* architecture = "LlamaForCausalLM";
  for (const Family& f : kFamilies)
    if (model_type == f.model_type) architecture = f.architecture;
  const bool gemma = IsGemma(model_type);
  nlohmann::ordered_json rope_scaling = nullptr;
  if (c.rope_scaling.type == "linear") rope_scaling = {{"rope_type", "linear"}, {"factor", c.rope_scaling.factor}};
  if (c.rope_scaling.type == "llama3")
    rope_scaling = {{"rope_type", "llama3"},
                    {"factor", c.rope_scaling.factor},
                    {"low_freq_factor", c.rope_scaling.low_freq_factor},
                    {"high_freq_factor", c.rope_scaling.high_freq_factor},
                    {"original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings}};
  nlohmann::ordered_json j{{"architectures", {architecture}},
                           {"model_type", model_type},
                           {"hidden_act", gemma ? "gelu_pytorch_tanh" : "silu"},
                           {"hidden_size", c.dim},
                           {"intermediate_size", c.hidden_dim},
                           {"num_hidden_layers", c.n_layers},
                           {"num_attention_heads", c.n_heads},
                           {"num_key_value_heads", c.n_kv_heads},
                           {"head_dim", c.head_dim},
                           {"max_position_embeddings", c.max_seq_len},
                           {"rms_norm_eps", c.norm_eps},
                           {"rope_theta", c.rope_theta},
                           {"rope_scaling", rope_scaling},
                           {"tie_word_embeddings", c.tied_embeddings},
                           {"vocab_size", c.vocab_size},
                           {"bos_token_id", c.bos_id},
                           {"eos_token_id", c.eos_id},
                           {"torch_dtype", "float32"}};
  if (c.sliding_window > 0 || gemma || model_type == "phi3")
    j["sliding_window"] = c.sliding_window > 0 ? nlohmann::ordered_json(c.sliding_window) : nlohmann::ordered_json();
  if (!c.sliding_layers.empty()) {
    nlohmann::ordered_json types = nlohmann::ordered_json::array();
    for (bool sliding : c.sliding_layers) types.push_back(sliding ? "sliding_attention" : "full_attention");
    j["layer_types"] = types;
  }
  if (c.o_bias) j["attention_bias"] = true;
  if (model_type == "qwen2" || model_type == "qwen3") j["use_sliding_window"] = false;
  if (gemma) {
    j["hidden_activation"] = "gelu_pytorch_tanh";
    j["query_pre_attn_scalar"] = c.query_pre_attn_scalar;
    auto cap = [](float v) { return v > 0.0f ? nlohmann::ordered_json(v) : nlohmann::ordered_json(); };
    j["attn_logit_softcapping"] = cap(c.attn_softcap);
    j["final_logit_softcapping"] = cap(c.final_softcap);
  }
  if (c.rope_local_theta > 0.0f) j["rope_local_base_freq"] = c.rope_local_theta;
  return j.dump(2);
}

std::vector<LayerTensorSlot> LayerTensorSlots(const LlamaConfig& c) {
  const int64_t d = c.dim, hd = c.head_dim;
  std::vector<LayerTensorSlot> slots = {{"input_layernorm.weight", &LayerWeights::attn_norm, d}};
  if (c.sandwich_norms) {  // Gemma: post_attention_layernorm is after attention, the MLP has its own pre-norm
    slots.push_back({"post_attention_layernorm.weight", &LayerWeights::post_attn_norm, d});
    slots.push_back({"pre_feedforward_layernorm.weight", &LayerWeights::ffn_norm, d});
    slots.push_back({"post_feedforward_layernorm.weight", &LayerWeights::post_ffn_norm, d});
  } else {
    slots.push_back({"post_attention_layernorm.weight", &LayerWeights::ffn_norm, d});
  }
  if (c.qkv_bias) {
    slots.push_back({"self_attn.q_proj.bias", &LayerWeights::q_bias, c.q_dim()});
    slots.push_back({"self_attn.k_proj.bias", &LayerWeights::k_bias, c.kv_dim()});
    slots.push_back({"self_attn.v_proj.bias", &LayerWeights::v_bias, c.kv_dim()});
  }
  if (c.o_bias) slots.push_back({"self_attn.o_proj.bias", &LayerWeights::o_bias, d});
  if (c.qk_norm) {
    slots.push_back({"self_attn.q_norm.weight", &LayerWeights::q_norm, hd});
    slots.push_back({"self_attn.k_norm.weight", &LayerWeights::k_norm, hd});
  }
  return slots;
}

std::vector<LayerLinearSlot> LayerLinearSlots(const LlamaConfig& c) {
  const int d = c.dim, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim;
  std::vector<LayerLinearSlot> slots;
  if (c.fused_qkv) {
    slots.push_back({"self_attn.qkv_proj", &LayerWeights::qkv, q + 2 * kv, d});
  } else {
    slots.push_back({"self_attn.q_proj", &LayerWeights::q, q, d});
    slots.push_back({"self_attn.k_proj", &LayerWeights::k, kv, d});
    slots.push_back({"self_attn.v_proj", &LayerWeights::v, kv, d});
  }
  slots.push_back({"self_attn.o_proj", &LayerWeights::o, d, q});
  if (c.fused_gate_up) {
    slots.push_back({"mlp.gate_up_proj", &LayerWeights::gate_up, 2 * h, d});
  } else {
    slots.push_back({"mlp.gate_proj", &LayerWeights::gate, h, d});
    slots.push_back({"mlp.up_proj", &LayerWeights::up, h, d});
  }
  slots.push_back({"mlp.down_proj", &LayerWeights::down, d, h});
  return slots;
}

Model LoadHfModel(const std::string& dir, bool half_linears_on_use) {
  Model model;
  model.source = dir;
  model.format = "hf-safetensors";
  model.config = ParseHfConfig((fs::path(dir) / "config.json").string());
  const LlamaConfig& c = model.config;
  TensorSource source(dir);
  if (IsQuipCheckpoint(source)) model.format = "quip";

  const int64_t d = c.dim, v = c.vocab_size;
  // A linear layer is dense ("<name>.weight") or, in quip folders, packed codes ("<name>.codes").
  auto linear = [&](const std::string& name, int64_t out, int64_t in) -> std::unique_ptr<Linear> {
    if (!source.Has(name + ".weight") && source.Has(name + ".codes"))
      return ReadQuantizedLinear(source, name, int(out), int(in), model);
    QUIP_CHECK_INPUT(model.format != "quip" || source.Has(name + ".weight"), source.first_path(),
                     "missing tensor '{}.codes' (or a dense '{}.weight')", name, name);
    if (half_linears_on_use && source.IsHalf(name + ".weight"))
      return std::make_unique<HalfLinear>(source.GetHalf(name + ".weight", {out, in}, model),
                                          model.tensors.back().dtype == "BF16", int(out), int(in));
    return std::make_unique<DenseLinear>(source.Get(name + ".weight", {out, in}, model));
  };
  model.token_embedding = source.Get("model.embed_tokens.weight", {v, d}, model);
  const std::vector<LayerTensorSlot> tensor_slots = LayerTensorSlots(c);
  const std::vector<LayerLinearSlot> linear_slots = LayerLinearSlots(c);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    LayerWeights layer;
    for (const LayerTensorSlot& t : tensor_slots) layer.*t.slot = source.Get(p + t.name, {t.size}, model);
    for (const LayerLinearSlot& t : linear_slots) layer.*t.slot = linear(p + t.name, t.rows, t.cols);
    layer.sliding_window = c.WindowOf(l);
    layer.local_rope = c.LocalRopeOf(l);
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
