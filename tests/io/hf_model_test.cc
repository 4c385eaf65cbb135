// What the Hugging Face loader (io/hf_model.h) refuses instead of computing a different
// model than the files describe: tensors that config.json leaves unused (fewer layers, a
// tied head stored separately, a stray tensor) in single, sharded and quantized folders,
// a llama2.c file longer than its header needs, and config.json fields that change the
// math but are not implemented. The reference for each case is the config and the files
// themselves (which tensors exist, which the config describes), built here in code.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/hf_model.h"
#include "pipeline/load.h"
#include "testing/quantized_folder.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::ShellQuote;

testing::SplitCommandResult Info(const std::string& model) {
  return testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " info --model " + ShellQuote(model));
}

// Rewrites DIR/config.json with `edit` applied to its JSON.
void EditConfig(const std::string& dir, const std::function<void(nlohmann::json&)>& edit) {
  const std::string path = dir + "/config.json";
  nlohmann::json j;
  std::ifstream(path) >> j;
  edit(j);
  std::ofstream(path) << j.dump(2);
}

LlamaConfig FourLayers() {
  LlamaConfig c = testing::TinyConfig();
  c.n_layers = 4;
  return c;
}

// ---- tensors the config leaves unused

TEST(UnusedTensors, FewerLayersInConfigJsonAreRefusedNamingTheDroppedTensors) {
  const std::string dir = testing::MakeTempDir("unused-layers");
  testing::WriteHfFolder(testing::RandomWeights(FourLayers(), 1), dir);
  ASSERT_EQ(Info(dir).exit_code, 0);
  EditConfig(dir, [](nlohmann::json& j) { j["num_hidden_layers"] = 2; });
  // Layers 2 and 3: 9 tensors each (2 norms, 7 linears).
  testing::ExpectCleanError(Info(dir), {dir + "/model.safetensors", "18 stored tensors are not used",
                                        "'model.layers.2.", "(14 more)", "num_hidden_layers"});
}

TEST(UnusedTensors, ShardedFolderNamesTheShardHoldingAnUnusedTensor) {
  const std::string dir = testing::MakeTempDir("unused-sharded");
  testing::WriteHfFolder(testing::RandomWeights(FourLayers(), 1), dir, 3);
  ASSERT_EQ(Info(dir).exit_code, 0);
  EditConfig(dir, [](nlohmann::json& j) { j["num_hidden_layers"] = 3; });
  testing::ExpectCleanError(Info(dir), {dir + "/model-0000", "9 stored tensors are not used", "'model.layers.3."});
}

TEST(UnusedTensors, AStrayTensorIsRefusedByName) {
  const std::string dir = testing::MakeTempDir("unused-stray");
  testing::WriteHfFolder(testing::RandomWeights(testing::TinyConfig(), 1), dir);
  testing::RewriteSafetensors(dir + "/model.safetensors", [](auto&, std::map<std::string, testing::StoredTensor>& t) {
    t["model.layers.0.self_attn.q_norm.weight"] = {DType::kF32, {2}, std::vector<uint8_t>(8, 0)};
  });
  testing::ExpectCleanError(Info(dir), {dir + "/model.safetensors", "1 stored tensor is not used",
                                        "'model.layers.0.self_attn.q_norm.weight'"});
}

TEST(UnusedTensors, TiedHeadMustBeACopyOfTheEmbedding) {
  LlamaConfig c = testing::TinyConfig();
  c.tied_embeddings = true;
  testing::TinyWeights w = testing::RandomWeights(c, 1);
  // A stored head equal to the embedding is harmless: it loads.
  w.tensors["lm_head.weight"] = w.tensors.at("model.embed_tokens.weight");
  const std::string same = testing::MakeTempDir("tied-same");
  testing::WriteHfFolder(w, same);
  EXPECT_EQ(Info(same).exit_code, 0) << Info(same).err;
  // A different one would be silently dropped: refused.
  w.tensors["lm_head.weight"].second[5] += 1.0f;
  const std::string differs = testing::MakeTempDir("tied-differs");
  testing::WriteHfFolder(w, differs);
  testing::ExpectCleanError(Info(differs), {differs + "/model.safetensors", "tie_word_embeddings", "'lm_head.weight'"});
  // config.json saying "untied" about a folder without lm_head is a missing tensor.
  testing::TinyWeights no_head = testing::RandomWeights(c, 1);
  const std::string missing = testing::MakeTempDir("untied-missing");
  testing::WriteHfFolder(no_head, missing);
  EditConfig(missing, [](nlohmann::json& j) { j["tie_word_embeddings"] = false; });
  testing::ExpectCleanError(Info(missing), {missing + "/model.safetensors", "missing tensor 'lm_head.weight'"});
}

TEST(UnusedTensors, StoredRopeInverseFrequenciesMustMatchRopeTheta) {
  const LlamaConfig c = testing::TinyConfig();
  testing::TinyWeights w = testing::RandomWeights(c, 1);
  std::vector<float> inv_freq;
  for (int i = 0; i < c.head_dim / 2; ++i)
    inv_freq.push_back(float(1.0 / std::pow(double(c.rope_theta), 2.0 * i / c.head_dim)));
  for (int l = 0; l < c.n_layers; ++l)
    w.tensors["model.layers." + std::to_string(l) + ".self_attn.rotary_emb.inv_freq"] = {{c.head_dim / 2}, inv_freq};
  const std::string good = testing::MakeTempDir("inv-freq-good");
  testing::WriteHfFolder(w, good);
  EXPECT_EQ(Info(good).exit_code, 0) << Info(good).err;
  w.tensors["model.layers.1.self_attn.rotary_emb.inv_freq"].second[1] *= 0.5f;  // linear RoPE scaling baked in
  const std::string scaled = testing::MakeTempDir("inv-freq-scaled");
  testing::WriteHfFolder(w, scaled);
  testing::ExpectCleanError(Info(scaled),
                            {scaled + "/model.safetensors", "'model.layers.1.self_attn.rotary_emb.inv_freq'", "rope_theta"});
}

TEST(UnusedTensors, QuantizedFolderWithFewerLayersInConfigJsonIsRefused) {
  const std::string out = testing::WriteTinyQuantizedFolder("unused-quantized");
  ASSERT_EQ(Info(out).exit_code, 0) << Info(out).err;
  EditConfig(out, [](nlohmann::json& j) { j["num_hidden_layers"] = 1; });
  testing::ExpectCleanError(Info(out), {out + "/model.safetensors", "stored tensors are not used", "'model.layers.1."});
}

TEST(UnusedTensors, Llama2cFileLongerThanItsHeaderNeedsIsRefusedWithBothSizes) {
  const std::string dir = testing::MakeTempDir("llama2c-longer");
  const std::string path = dir + "/model.bin";
  testing::WriteLlama2cFile(testing::RandomWeights(testing::TinyConfig(), 1), path);
  const uint64_t size = fs::file_size(path);
  ASSERT_EQ(Info(path).exit_code, 0);
  std::ofstream(path, std::ios::binary | std::ios::app).write("\0\0\0\0\0\0\0\0", 8);  // e.g. two layers too few in the header
  testing::ExpectCleanError(Info(path), {path, std::to_string(size + 8) + " bytes", "implies " + std::to_string(size)});
}

// ---- config.json fields that change the math

std::string WriteConfig(const std::string& name, const std::function<void(nlohmann::json&)>& edit) {
  const std::string dir = testing::MakeTempDir(name);
  std::ofstream(dir + "/config.json") << HfConfigJson(testing::TinyConfig());
  EditConfig(dir, edit);
  return dir + "/config.json";
}

void ExpectRefused(const std::string& field, const nlohmann::json& value, const std::string& model_type = "llama") {
  SCOPED_TRACE(field + " = " + value.dump());
  const std::string path = WriteConfig("config-" + field, [&](nlohmann::json& j) {
    j["model_type"] = model_type;
    j[field] = value;
  });
  try {
    ParseHfConfig(path);
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path));
    EXPECT_THAT(e.what(), HasSubstr(field));
  }
}

void ExpectAccepted(const std::string& field, const nlohmann::json& value, const std::string& model_type = "llama") {
  SCOPED_TRACE(field + " = " + value.dump());
  const std::string path = WriteConfig("config-" + field, [&](nlohmann::json& j) {
    j["model_type"] = model_type;
    j[field] = value;
  });
  EXPECT_NO_THROW(ParseHfConfig(path));
}

TEST(ConfigJson, FieldsThatChangeTheMathAreRefusedUnlessNeutral) {
  ExpectRefused("attention_bias", true, "mistral");
  ExpectRefused("attention_bias", true, "qwen2");  // its q/k/v biases are implied, o_proj has none
  ExpectRefused("mlp_bias", true);
  ExpectRefused("hidden_act", "gelu");
  ExpectRefused("hidden_act", "silu", "gemma2");
  ExpectRefused("rope_scaling", {{"type", "dynamic"}, {"factor", 2.0}});
  ExpectRefused("rope_scaling", {{"rope_type", "yarn"}, {"factor", 4.0}}, "qwen2");
  ExpectRefused("rope_scaling", {{"rope_type", "longrope"}, {"factor", 4.0}}, "phi3");
  ExpectRefused("rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}});  // without its frequency factors
  ExpectRefused("rope_scaling", {{"rope_type", "linear"}, {"factor", 8.0}, {"attention_factor", 2.0}});
  ExpectRefused("use_sliding_window", true, "qwen2");
  ExpectRefused("use_sliding_window", true, "qwen3");
  ExpectRefused("query_pre_attn_scalar", 64, "llama");
  ExpectRefused("layer_types", {"sliding_attention", "full_attention"}, "qwen3");
  ExpectRefused("model_type", "gemma3");  // the multimodal one: names gemma3_text
  ExpectRefused("model_type", "gpt2");
  ExpectRefused("partial_rotary_factor", 0.5);
  ExpectRefused("attn_logit_softcapping", 50.0);
  ExpectRefused("final_logit_softcapping", 30.0);
  ExpectRefused("logits_scaling", 8.0);
  ExpectRefused("embedding_multiplier", 12.0);
  ExpectRefused("residual_multiplier", 0.22);
  ExpectRefused("use_qk_norm", true);
  ExpectRefused("qk_layernorm", true);
  ExpectRefused("sliding_window", 4096);  // HF's Llama ignores it: ambiguous
  ExpectRefused("sliding_window", 0, "mistral");
  ExpectRefused("sliding_window", "4096", "mistral");

  ExpectAccepted("attention_bias", false);
  ExpectAccepted("attention_bias", true);  // biases on q/k/v/o, as HF's LlamaAttention
  ExpectAccepted("rope_scaling", {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                                  {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}});
  ExpectAccepted("rope_scaling", {{"type", "linear"}, {"factor", 2.0}});
  ExpectAccepted("rope_scaling", {{"rope_type", "default"}});
  ExpectAccepted("use_sliding_window", false, "qwen2");
  ExpectAccepted("sliding_window", 4096, "qwen2");  // inert without use_sliding_window
  ExpectAccepted("rope_scaling", nullptr);
  ExpectAccepted("partial_rotary_factor", 1.0);
  ExpectAccepted("partial_rotary_factor", 1);
  ExpectAccepted("attn_logit_softcapping", nullptr);
  ExpectAccepted("use_qk_norm", false);
  ExpectAccepted("sliding_window", nullptr);
  ExpectAccepted("sliding_window", nullptr, "mistral");
  ExpectAccepted("pretraining_tp", 1);  // only how HF splits the matmuls, same math
}

TEST(ConfigJson, RefusalThroughTheCommandLineIsOneCleanLine) {
  const std::string dir = testing::MakeTempDir("config-cli");
  testing::WriteHfFolder(testing::RandomWeights(testing::TinyConfig(), 1), dir);
  EditConfig(dir, [](nlohmann::json& j) { j["partial_rotary_factor"] = 0.25; });
  testing::ExpectCleanError(Info(dir), {dir + "/config.json", "partial_rotary_factor = 0.25 is not supported"});
}

TEST(ConfigJson, MistralSlidingWindowIsReadAndWrittenBack) {
  const std::string path = WriteConfig("config-mistral", [](nlohmann::json& j) {
    j["model_type"] = "mistral";
    j["sliding_window"] = 7;
  });
  const LlamaConfig c = ParseHfConfig(path);
  EXPECT_EQ(c.sliding_window, 7);
  // Folders quip writes (quantized models) keep the window.
  const nlohmann::json written = nlohmann::json::parse(HfConfigJson(c));
  EXPECT_EQ(written.at("model_type"), "mistral");
  EXPECT_EQ(written.at("sliding_window"), 7);
  EXPECT_EQ(ParseHfConfig(WriteConfig("config-mistral-again", [&](nlohmann::json& j) { j = written; })).sliding_window,
            7);
  EXPECT_EQ(ParseHfConfig(WriteConfig("config-llama", [](nlohmann::json&) {})).sliding_window, 0);
  // As Hugging Face's MistralConfig: absent means its default 4096, null means none.
  EXPECT_EQ(ParseHfConfig(WriteConfig("config-mistral-default", [](nlohmann::json& j) {
              j["model_type"] = "mistral";
              j.erase("sliding_window");
            })).sliding_window,
            4096);
  EXPECT_EQ(ParseHfConfig(WriteConfig("config-mistral-null", [](nlohmann::json& j) {
              j["model_type"] = "mistral";
              j["sliding_window"] = nullptr;
            })).sliding_window,
            0);
}

}  // namespace
}  // namespace quip

namespace quip {
namespace {

// config.json of released models (fields and values as published on the Hugging Face hub):
// each parses to the family's switches, and quip's own config.json text of it reads back to
// the same config (what quantized folders rely on).
struct PublishedConfig {
  const char* name;
  const char* json;
};
constexpr PublishedConfig kPublished[] = {
    {"Llama-3.1-8B", R"({"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
      "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu", "hidden_size": 4096,
      "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": false,
      "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
      "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0,
      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192, "rope_type": "llama3"},
      "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_cache": true,
      "vocab_size": 128256})"},
    {"Qwen2.5-0.5B", R"({"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
      "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
      "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24, "model_type": "qwen2",
      "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
      "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
      "use_cache": true, "use_sliding_window": false, "vocab_size": 151936})"},
    {"Qwen3-0.6B", R"({"architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
      "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 1024,
      "initializer_range": 0.02, "intermediate_size": 3072, "max_position_embeddings": 40960,
      "max_window_layers": 28, "model_type": "qwen3", "num_attention_heads": 16, "num_hidden_layers": 28,
      "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000,
      "sliding_window": null, "tie_word_embeddings": true, "torch_dtype": "bfloat16", "use_cache": true,
      "use_sliding_window": false, "vocab_size": 151936})"},
    {"Mistral-7B-v0.1", R"({"architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
      "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
      "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
      "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
      "sliding_window": 4096, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_cache": true,
      "vocab_size": 32000})"},
    {"Phi-3-mini-4k-instruct", R"({"architectures": ["Phi3ForCausalLM"], "attention_bias": false,
      "attention_dropout": 0.0, "bos_token_id": 1, "embd_pdrop": 0.0, "eos_token_id": 32000, "hidden_act": "silu",
      "hidden_size": 3072, "initializer_range": 0.02, "intermediate_size": 8192, "max_position_embeddings": 4096,
      "model_type": "phi3", "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
      "original_max_position_embeddings": 4096, "pad_token_id": 32000, "resid_pdrop": 0.0, "rms_norm_eps": 1e-05,
      "rope_scaling": null, "rope_theta": 10000.0, "sliding_window": 2047, "tie_word_embeddings": false,
      "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 32064})"},
    {"gemma-2-2b", R"({"architectures": ["Gemma2ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
      "attn_logit_softcapping": 50.0, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": 1,
      "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
      "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2304, "initializer_range": 0.02,
      "intermediate_size": 9216, "max_position_embeddings": 8192, "model_type": "gemma2",
      "num_attention_heads": 8, "num_hidden_layers": 26, "num_key_value_heads": 4, "pad_token_id": 0,
      "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096,
      "torch_dtype": "float32", "use_cache": true, "vocab_size": 256000})"},
    {"gemma-3-1b-it", R"({"architectures": ["Gemma3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
      "attn_logit_softcapping": null, "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": [1, 106],
      "final_logit_softcapping": null, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh",
      "hidden_size": 1152, "initializer_range": 0.02, "intermediate_size": 6912, "max_position_embeddings": 32768,
      "model_type": "gemma3_text", "num_attention_heads": 4, "num_hidden_layers": 26, "num_key_value_heads": 1,
      "pad_token_id": 0, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000,
      "rope_scaling": null, "rope_theta": 1000000, "sliding_window": 512, "sliding_window_pattern": 6,
      "torch_dtype": "bfloat16", "use_cache": true, "vocab_size": 262144})"},
};

LlamaConfig ParsePublished(const PublishedConfig& p) {
  const std::string dir = testing::MakeTempDir(std::string("published-") + p.name);
  std::ofstream(dir + "/config.json") << p.json;
  return ParseHfConfig(dir + "/config.json");
}

TEST(PublishedConfigs, EachParsesToItsFamilyAndRoundTrips) {
  for (const PublishedConfig& p : kPublished) {
    SCOPED_TRACE(p.name);
    const LlamaConfig c = ParsePublished(p);
    const std::string written = HfConfigJson(c);
    const std::string dir = testing::MakeTempDir(std::string("published-again-") + p.name);
    std::ofstream(dir + "/config.json") << written;
    EXPECT_EQ(HfConfigJson(ParseHfConfig(dir + "/config.json")), written);
  }
  const LlamaConfig llama = ParsePublished(kPublished[0]);
  EXPECT_EQ(llama.rope_scaling.type, "llama3");
  EXPECT_EQ(llama.rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(llama.eos_id, 128001);
  const LlamaConfig qwen2 = ParsePublished(kPublished[1]);
  EXPECT_TRUE(qwen2.qkv_bias && !qwen2.o_bias && qwen2.tied_embeddings);
  EXPECT_EQ(qwen2.sliding_window, 0);  // use_sliding_window false
  const LlamaConfig qwen3 = ParsePublished(kPublished[2]);
  EXPECT_TRUE(qwen3.qk_norm && !qwen3.qkv_bias);
  EXPECT_EQ(qwen3.head_dim, 128);
  EXPECT_EQ(ParsePublished(kPublished[3]).WindowOf(31), 4096);
  const LlamaConfig phi3 = ParsePublished(kPublished[4]);
  EXPECT_TRUE(phi3.fused_qkv && phi3.fused_gate_up);
  EXPECT_EQ(phi3.WindowOf(0), 2047);
  const LlamaConfig gemma2 = ParsePublished(kPublished[5]);
  EXPECT_EQ(gemma2.activation, Activation::kGeluTanh);
  EXPECT_TRUE(gemma2.tied_embeddings && gemma2.sandwich_norms);
  EXPECT_EQ(gemma2.norm_offset, 1.0f);
  EXPECT_EQ(gemma2.attn_softcap, 50.0f);
  EXPECT_EQ(gemma2.final_softcap, 30.0f);
  EXPECT_EQ(gemma2.WindowOf(0), 4096);
  EXPECT_EQ(gemma2.WindowOf(1), 0);
  EXPECT_FLOAT_EQ(gemma2.embed_scale, std::sqrt(2304.0f));
  const LlamaConfig gemma3 = ParsePublished(kPublished[6]);
  EXPECT_EQ(gemma3.WindowOf(4), 512);
  EXPECT_EQ(gemma3.WindowOf(5), 0);  // every sixth layer is global
  EXPECT_TRUE(gemma3.LocalRopeOf(0) && !gemma3.LocalRopeOf(5));
  EXPECT_EQ(gemma3.attn_softcap, 0.0f);
  EXPECT_EQ(gemma3.eos_id, 1);
}

// Llama 3's RoPE frequencies against the closed form of transformers' _compute_llama3_parameters
// at three wavelengths: one above original_max_position_embeddings / low_freq_factor (divided by
// factor), one below .. / high_freq_factor (kept) and one between (interpolated).
TEST(PublishedConfigs, Llama3RopeFrequencies) {
  const LlamaConfig c = ParsePublished(kPublished[0]);
  const std::vector<double> f = c.RopeInverseFrequencies();
  ASSERT_EQ(f.size(), 64u);
  auto base = [&](int i) { return std::pow(500000.0, -2.0 * i / 128); };
  EXPECT_DOUBLE_EQ(f[0], base(0));  // wavelength 2π < 2048: kept
  const int low = 63;  // wavelength 2π / base(63) ≈ 2.6e6 > 8192: divided by 8
  EXPECT_NEAR(f[low], base(low) / 8.0, 1e-15);
  for (int i = 0; i < 64; ++i) {
    const double wavelen = 2 * M_PI / base(i);
    if (wavelen < 2048 || wavelen > 8192) continue;
    const double smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0);
    EXPECT_NEAR(f[i], (1 - smooth) * base(i) / 8.0 + smooth * base(i), 1e-12 * base(i)) << i;
  }
}

}  // namespace
}  // namespace quip
