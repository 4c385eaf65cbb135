// The model families of model/config.h against tools/hf_families_reference.py, an
// independent float64 NumPy forward pass of each family written from its transformers
// modelling file. Each test builds a tiny random checkpoint with the family's exact Hugging
// Face tensor names and config.json fields (those its published configs carry), then checks:
//   - logits of all three feeding paths (batch, decode, chunked) at the Llama tests' tolerance;
//   - greedy generation, token for token;
//   - that each config-driven feature changes the logits (the reference with the feature
//     removed is far from ours), so a forward pass that ignored it could not pass;
//   - quantize -> write -> reload -> perplexity: the folder records the architecture, the
//     reloaded model gives the in-memory quantized logits exactly, and 4-bit QuIP# stays
//     close to fp32.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "io/quip_format.h"
#include "io/safetensors.h"
#include "pipeline/methods.h"
#include "pipeline/quantize_model.h"
#include "reference_check.h"
#include "text/perplexity.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using testing::kFamiliesReference;
using testing::kRelTolerance;
using testing::kTokens;

// A family's test checkpoint: config.json fields, and per feature a config edit that removes it.
struct Family {
  std::string name;
  nlohmann::ordered_json config;
  std::vector<std::pair<std::string, std::function<void(nlohmann::json&)>>> features;
};

// The vocabulary of models/stories260K's tok512.bin, which the command-line test uses.
constexpr int kDim = 48, kHidden = 136, kHeads = 6, kKvHeads = 2, kVocab = 512;

Family MakeFamily(const std::string& name) {
  Family f{name, {}, {}};
  nlohmann::ordered_json& j = f.config;
  j = {{"hidden_size", kDim},         {"intermediate_size", kHidden}, {"num_hidden_layers", 2},
       {"num_attention_heads", kHeads}, {"num_key_value_heads", kKvHeads}, {"max_position_embeddings", 64},
       {"rms_norm_eps", 1e-5},        {"rope_theta", 10000.0},        {"vocab_size", kVocab},
       {"bos_token_id", 1},           {"eos_token_id", 2},            {"torch_dtype", "float32"},
       {"hidden_act", "silu"},        {"tie_word_embeddings", false}};
  auto erase = [](const char* key) { return [key](nlohmann::json& c) { c.erase(key); }; };
  if (name == "llama3") {  // Llama 3.2: llama3 RoPE scaling, tied embeddings
    j["architectures"] = {"LlamaForCausalLM"};
    j["model_type"] = "llama";
    j["tie_word_embeddings"] = true;
    // head_dim 8: wavelengths 6.3, 63, 628, 6283 against 64/4 and 64/1: kept, interpolated, divided twice.
    j["rope_scaling"] = {{"factor", 8.0}, {"high_freq_factor", 4.0}, {"low_freq_factor", 1.0},
                         {"original_max_position_embeddings", 64}, {"rope_type", "llama3"}};
    j["max_position_embeddings"] = 128;
    j["attention_bias"] = false;
    j["mlp_bias"] = false;
    f.features.push_back({"rope_scaling", erase("rope_scaling")});
  } else if (name == "mistral") {
    j["architectures"] = {"MistralForCausalLM"};
    j["model_type"] = "mistral";
    j["sliding_window"] = 7;
    f.features.push_back({"sliding_window", [](nlohmann::json& c) { c["sliding_window"] = nullptr; }});
  } else if (name == "qwen2") {  // Qwen 2.5 0.5B-style: biases, tied, inert window fields
    j["architectures"] = {"Qwen2ForCausalLM"};
    j["model_type"] = "qwen2";
    j["rope_theta"] = 1000000.0;
    j["tie_word_embeddings"] = true;
    j["use_sliding_window"] = false;
    j["sliding_window"] = 32;
    j["max_window_layers"] = 2;
    j["bos_token_id"] = 0;
  } else if (name == "qwen3") {
    j["architectures"] = {"Qwen3ForCausalLM"};
    j["model_type"] = "qwen3";
    j["head_dim"] = 16;  // != hidden_size / heads
    j["attention_bias"] = false;
    j["use_sliding_window"] = false;
    j["sliding_window"] = nullptr;
    j["max_window_layers"] = 2;
  } else if (name == "phi3") {
    j["architectures"] = {"Phi3ForCausalLM"};
    j["model_type"] = "phi3";
    j["sliding_window"] = 7;
    j["original_max_position_embeddings"] = 64;
    j["rope_scaling"] = nullptr;
    j["resid_pdrop"] = 0.0;
    j["embd_pdrop"] = 0.0;
    j["attention_dropout"] = 0.0;
    j["pad_token_id"] = 0;
    f.features.push_back({"sliding_window", [](nlohmann::json& c) { c["sliding_window"] = nullptr; }});
  } else if (name == "gemma2") {
    j["architectures"] = {"Gemma2ForCausalLM"};
    j["model_type"] = "gemma2";
    j["hidden_act"] = "gelu_pytorch_tanh";
    j["hidden_activation"] = "gelu_pytorch_tanh";
    j["head_dim"] = 16;
    j["query_pre_attn_scalar"] = 24;  // != head_dim
    j["attn_logit_softcapping"] = 0.5;
    j["final_logit_softcapping"] = 10.0;
    j["sliding_window"] = 7;
    j["cache_implementation"] = "hybrid";
    j["tie_word_embeddings"] = true;
    j["rms_norm_eps"] = 1e-6;
    j["bos_token_id"] = 2;
    j["eos_token_id"] = 1;
    f.features.push_back({"attn_logit_softcapping", [](nlohmann::json& c) { c["attn_logit_softcapping"] = nullptr; }});
    f.features.push_back({"final_logit_softcapping", [](nlohmann::json& c) { c["final_logit_softcapping"] = nullptr; }});
    f.features.push_back({"query_pre_attn_scalar", [](nlohmann::json& c) { c["query_pre_attn_scalar"] = 16; }});
    f.features.push_back({"sliding_window", [](nlohmann::json& c) { c["sliding_window"] = 64; }});
  } else if (name == "gemma3") {  // text-only Gemma 3 (Gemma3ForCausalLM)
    j["architectures"] = {"Gemma3ForCausalLM"};
    j["model_type"] = "gemma3_text";
    j["hidden_act"] = "gelu_pytorch_tanh";
    j["hidden_activation"] = "gelu_pytorch_tanh";
    j["num_hidden_layers"] = 3;
    j["sliding_window_pattern"] = 3;  // layers 0 and 1 sliding, layer 2 global
    j["head_dim"] = 16;
    j["query_pre_attn_scalar"] = 16;
    j["attn_logit_softcapping"] = nullptr;
    j["final_logit_softcapping"] = nullptr;
    j["sliding_window"] = 7;
    j["rope_theta"] = 1000000.0;
    j["rope_local_base_freq"] = 10000.0;
    j["rope_scaling"] = {{"factor", 8.0}, {"rope_type", "linear"}};
    j["tie_word_embeddings"] = true;
    j["rms_norm_eps"] = 1e-6;
    j["bos_token_id"] = 2;
    j["eos_token_id"] = 1;
    f.features.push_back({"rope_local_base_freq", [](nlohmann::json& c) { c["rope_local_base_freq"] = 1000000.0; }});
    f.features.push_back({"rope_scaling", erase("rope_scaling")});
    f.features.push_back({"sliding_window_pattern", [](nlohmann::json& c) { c["sliding_window_pattern"] = 2; }});
  }
  return f;
}

// config.json and model.safetensors of `f` with seeded random weights under the family's names.
std::string WriteFamily(const Family& f, const std::string& dir) {
  const nlohmann::json& j = f.config;
  const bool gemma = f.name.starts_with("gemma"), phi3 = f.name == "phi3";
  const int64_t d = kDim, h = kHidden, V = kVocab;
  const int64_t hd = j.contains("head_dim") ? j["head_dim"].get<int64_t>() : d / kHeads;
  const int64_t q = kHeads * hd, kv = kKvHeads * hd;
  std::mt19937_64 rng(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  SafetensorsWriter writer;
  std::vector<std::vector<float>> keep;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale, float offset = 0.0f) {
    int64_t n = 1;
    for (int64_t s : shape) n *= s;
    keep.emplace_back(size_t(n));
    for (float& x : keep.back()) x = offset + scale * normal(rng);
    writer.AddF32(name, shape, keep.back().data());
  };
  const float norm_offset = gemma ? 0.0f : 1.0f;  // Gemma stores w of (1 + w)
  // A tied head reads the embedding: small rows keep the logits of random tokens moderate.
  add("model.embed_tokens.weight", {V, d}, j["tie_word_embeddings"].get<bool>() ? 0.2f : 1.0f);
  for (int l = 0; l < j["num_hidden_layers"].get<int>(); ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {d}, 0.1f, norm_offset);
    add(p + "post_attention_layernorm.weight", {d}, 0.1f, norm_offset);
    if (gemma) {
      add(p + "pre_feedforward_layernorm.weight", {d}, 0.1f, norm_offset);
      add(p + "post_feedforward_layernorm.weight", {d}, 0.1f, norm_offset);
    }
    const float in_scale = 1.0f / std::sqrt(float(d));
    if (phi3) {
      add(p + "self_attn.qkv_proj.weight", {q + 2 * kv, d}, 0.5f * in_scale);
    } else {
      add(p + "self_attn.q_proj.weight", {q, d}, 0.5f * in_scale);
      add(p + "self_attn.k_proj.weight", {kv, d}, 0.5f * in_scale);
      add(p + "self_attn.v_proj.weight", {kv, d}, in_scale);
    }
    if (f.name == "qwen2") {
      add(p + "self_attn.q_proj.bias", {q}, 0.3f);
      add(p + "self_attn.k_proj.bias", {kv}, 0.3f);
      add(p + "self_attn.v_proj.bias", {kv}, 0.3f);
    }
    if (f.name == "qwen3" || f.name == "gemma3") {
      add(p + "self_attn.q_norm.weight", {hd}, 0.1f, norm_offset);
      add(p + "self_attn.k_norm.weight", {hd}, 0.1f, norm_offset);
    }
    add(p + "self_attn.o_proj.weight", {d, q}, 1.0f / std::sqrt(float(q)));
    if (phi3) {
      add(p + "mlp.gate_up_proj.weight", {2 * h, d}, in_scale);
    } else {
      add(p + "mlp.gate_proj.weight", {h, d}, in_scale);
      add(p + "mlp.up_proj.weight", {h, d}, in_scale);
    }
    add(p + "mlp.down_proj.weight", {d, h}, 1.0f / std::sqrt(float(h)));
  }
  add("model.norm.weight", {d}, 0.1f, norm_offset);
  if (!j["tie_word_embeddings"].get<bool>()) add("lm_head.weight", {V, d}, 1.0f / std::sqrt(float(d)));
  fs::create_directories(dir);
  std::ofstream(fs::path(dir) / "config.json") << j.dump(2);
  writer.Write((fs::path(dir) / "model.safetensors").string());
  return dir;
}

std::vector<float> AllLogits(const Model& model, const std::vector<int>& tokens) {
  Session session(model, int(tokens.size()));
  const auto logits = session.Feed(tokens, /*all_logits=*/true);
  return {logits.begin(), logits.end()};
}

double RelativeDifference(const std::vector<float>& ours, const std::vector<double>& ref) {
  double max_diff = 0.0, max_ref = 0.0;
  for (size_t i = 0; i < ours.size(); ++i) {
    max_diff = std::max(max_diff, std::fabs(double(ours[i]) - ref[i]));
    max_ref = std::max(max_ref, std::fabs(ref[i]));
  }
  return max_diff / max_ref;
}

class Families : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    SetThreads(2);
    family_ = MakeFamily(GetParam());
    dir_ = testing::MakeTempDir("family-" + GetParam());
    WriteFamily(family_, dir_ + "/fp32");
  }
  std::string fp32() const { return dir_ + "/fp32"; }
  Family family_;
  std::string dir_;
};

TEST_P(Families, LogitsMatchTheReferenceOnEveryPath) {
  testing::CheckModel(GetParam(), fp32(), kFamiliesReference);
}

TEST_P(Families, GreedyGenerationMatchesTheReference) {
  const Model model = LoadModel(fp32());
  const std::vector<int> prompt = {3, 17, 250, 9, 41, 120, 7, 77, 5, 199, 31, 64};
  constexpr int kGenerate = 10;
  const auto r = testing::RunCommand("/usr/bin/python3 " + testing::ShellQuote(testing::SourceDir() + "/" + kFamiliesReference) +
                                     " --model " + testing::ShellQuote(fp32()) + " --tokens " +
                                     testing::TokenList(prompt) + " --greedy " + std::to_string(kGenerate));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::vector<int> expected = nlohmann::json::parse(r.output).at("generated").get<std::vector<int>>();
  Session session(model, int(prompt.size()) + kGenerate);
  std::vector<int> generated;
  auto logits = session.Feed(prompt, false);
  for (int i = 0; i < kGenerate; ++i) {
    const int next = int(std::max_element(logits.begin(), logits.end()) - logits.begin());
    generated.push_back(next);
    const int one[] = {next};
    logits = session.Feed(one, false);
  }
  EXPECT_EQ(generated, expected);
}

// Each config-driven feature matters: the reference without it is far from our logits.
TEST_P(Families, EveryFeatureChangesTheLogits) {
  const Model model = LoadModel(fp32());
  const std::vector<int> tokens = testing::TestTokens(kVocab);
  const std::vector<float> ours = AllLogits(model, tokens);
  for (const auto& [feature, edit] : family_.features) {
    const std::string without = dir_ + "/without-" + feature;
    fs::create_directories(without);
    fs::copy_file(fs::path(fp32()) / "model.safetensors", fs::path(without) / "model.safetensors");
    nlohmann::json config = family_.config;
    edit(config);
    std::ofstream(fs::path(without) / "config.json") << config.dump(2);
    const double rel = RelativeDifference(ours, testing::ReferenceLogits(without, tokens, kVocab, kFamiliesReference));
    std::printf("[%s without %s] relative difference %.3e\n", GetParam().c_str(), feature.c_str(), rel);
    EXPECT_GT(rel, 100 * kRelTolerance) << feature << " made no difference";
  }
}

// quantize -> quip folder -> reload -> perplexity, with 4-bit QuIP# (E8P codes, fused linears as
// one matrix). The folder's config.json names the family, and every linear is quantized.
TEST_P(Families, QuantizeWriteReloadPerplexity) {
  Model model = LoadModel(fp32());
  std::mt19937_64 rng(5);
  std::vector<std::vector<int>> windows(16);
  for (auto& w : windows)
    for (int i = 0; i < 32; ++i) w.push_back(int(rng() % kVocab));
  // Text sampled from the fp32 model itself, window by window as perplexity reads it (BOS, then
  // 31 tokens): its cross-entropy is what the fp32 model minimises, so quantization can only raise
  // it, by about the KL divergence of the quantized model's predictions from the fp32 ones.
  std::vector<int> text;
  constexpr int kCtx = 32, kWindows = 32;
  for (int w = 0; w < kWindows; ++w) {
    Session session(model, kCtx);
    int next = model.config.bos_id;
    for (int i = 0; i < kCtx - 1; ++i) {
      const int one[] = {next};
      const auto logits = session.Feed(one, false);
      const float top = *std::max_element(logits.begin(), logits.end());
      std::vector<double> p(logits.size());
      for (size_t k = 0; k < p.size(); ++k) p[k] = std::exp(double(logits[k]) - top);
      next = std::discrete_distribution<int>(p.begin(), p.end())(rng);
      text.push_back(next);
    }
  }
  const double fp32_ppl = EvaluatePerplexity(model, text, kCtx, 0, "sampled text").ppl;

  QuantizeModelOptions options;
  options.config = ConfigForMethod("quipsharp", 4);
  options.config.seed = 3;
  options.method = "quipsharp";
  const nlohmann::json report = QuantizeModel(model, windows, options);
  const int per_layer = family_.name == "phi3" ? 4 : 7;  // qkv_proj, o_proj, gate_up_proj, down_proj
  EXPECT_EQ(report.at("linears").size(), size_t(per_layer * model.config.n_layers));
  const std::string out = dir_ + "/quantized";
  WriteQuantizedModel(model, out, {{"quip.method", "quipsharp"}, {"quip.bits", "4"}}, report, fp32(), false);

  const Model reloaded = LoadModel(out);
  EXPECT_EQ(reloaded.format, "quip");
  EXPECT_EQ(reloaded.config.model_type, model.config.model_type);
  EXPECT_EQ(nlohmann::json::parse(std::ifstream(out + "/config.json")).at("architectures"), family_.config.at("architectures"));
  for (const Linear* l : reloaded.layers[0].linears()) EXPECT_NE(l->stored_linear(), nullptr);
  const std::vector<int> tokens = testing::TestTokens(kVocab);
  EXPECT_EQ(AllLogits(reloaded, tokens), AllLogits(model, tokens)) << "the folder does not give back the model";
  const double ppl = EvaluatePerplexity(reloaded, text, kCtx, 0, "sampled text").ppl;
  std::printf("[%s] ppl fp32 %.3f, 4-bit quipsharp %.3f (ratio %.4f)\n", GetParam().c_str(), fp32_ppl, ppl, ppl / fp32_ppl);
  // Measured ratios 1.010 (Mistral) to 1.045 (Qwen 2) with 16 x 32 calibration tokens, 32 x 31 scored.
  EXPECT_GT(ppl / fp32_ppl, 1.0);
  EXPECT_LT(ppl / fp32_ppl, 1.08);
}

// The commands on a family's folders: quantize (with --eval), then info, ppl and generate on the
// quantized folder, each exiting 0; info names the family.
TEST_P(Families, EveryCommandReadsTheQuantizedFolder) {
  fs::copy_file(testing::StoriesModel() + "/tok512.bin", fp32() + "/tok512.bin");
  const std::string quip = testing::ShellQuote(testing::QuipBinary()), text = testing::ShellQuote(testing::TinyStoriesText());
  const std::string out = dir_ + "/cli-quantized";
  auto run = [&](const std::string& args) {
    const auto r = testing::RunCommand(quip + " " + args);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.output;
    return r.output;
  };
  run("quantize --model " + testing::ShellQuote(fp32()) + " --calib " + text +
      " --bits 2 --method quipsharp --nsamples 8 --ctx 32 --eval " + text + " --eval-windows 4 --threads 2 -o " + testing::ShellQuote(out));
  const std::string info = run("info --model " + testing::ShellQuote(out));
  EXPECT_NE(info.find("architecture " + family_.config.at("model_type").get<std::string>() + ":"), std::string::npos) << info;
  EXPECT_NE(run("ppl --model " + testing::ShellQuote(out) + " --text " + text + " --ctx 32 --max-windows 4 --threads 2").find("ppl "),
            std::string::npos);
  run("generate --model " + testing::ShellQuote(out) + " --prompt 'Once upon a time' -n 8 --temp 0 --threads 2");
}

// Mistral past its window: the KV cache keeps window - 1 + 512 slots instead of a slot per
// position, and logits of 1000 tokens (fed at once, one at a time and in uneven chunks, so that
// the cache moves its live positions many times) still match the reference.
TEST(SlidingWindowCache, MistralLongContextKeepsOnlyTheWindow) {
  SetThreads(2);
  Family f = MakeFamily("mistral");
  f.config["max_position_embeddings"] = 1024;
  const std::string dir = WriteFamily(f, testing::MakeTempDir("mistral-long") + "/fp32");
  const Model model = LoadModel(dir);
  constexpr int kLong = 1000;
  EXPECT_EQ(KvCache(model.config, kLong, -1, 512).slots(), 7 - 1 + 512);
  EXPECT_EQ(KvCache(model.config, kLong).slots(), kLong);  // calibration's: one slot per position
  std::mt19937 rng(11);
  std::vector<int> tokens{1};
  while (int(tokens.size()) < kLong) tokens.push_back(int(rng() % kVocab));
  const std::vector<double> ref = testing::ReferenceLogits(dir, tokens, kVocab, kFamiliesReference);
  testing::CompareLogits("mistral 1000 tokens batch", AllLogits(model, tokens), ref, kVocab);
  for (const std::vector<int>& chunks : {std::vector<int>(kLong, 1), std::vector<int>{300, 1, 511, 7, 181}}) {
    testing::CompareLogits(chunks.size() == kLong ? "mistral 1000 tokens decode" : "mistral 1000 tokens chunked",
                           testing::FeedInChunks(model, tokens, chunks), ref, kVocab);
  }
}

INSTANTIATE_TEST_SUITE_P(All, Families,
                         ::testing::Values("llama3", "mistral", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace quip
