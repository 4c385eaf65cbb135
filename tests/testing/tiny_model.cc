#include "testing/tiny_model.h"

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <regex>
#include <stdexcept>
#include <cmath>
#include <cstdlib>
#include <iterator>

#include "io/hf_model.h"
#include "io/safetensors.h"

namespace quip::testing {
namespace fs = std::filesystem;

LlamaConfig TinyConfig() {
  LlamaConfig c;
  c.dim = 48;
  c.hidden_dim = 136;
  c.n_layers = 2;
  c.n_heads = 6;
  c.n_kv_heads = 2;
  c.head_dim = 8;
  c.vocab_size = 300;
  c.max_seq_len = 64;
  c.norm_eps = 1e-5f;
  c.rope_theta = 10000.0f;
  c.tied_embeddings = false;
  return c;
}

TinyWeights RandomWeights(const LlamaConfig& c, uint64_t seed) {
  TinyWeights w{c, {}};
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto add = [&](const std::string& name, std::vector<int64_t> shape, float scale, float offset = 0.0f) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    std::vector<float> v(n);
    for (auto& x : v) x = offset + scale * normal(rng);
    w.tensors[name] = {std::move(shape), std::move(v)};
  };
  const int64_t d = c.dim, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim, V = c.vocab_size;
  add("model.embed_tokens.weight", {V, d}, 1.0f);
  for (int l = 0; l < c.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add(p + "input_layernorm.weight", {d}, 0.1f, 1.0f);
    add(p + "post_attention_layernorm.weight", {d}, 0.1f, 1.0f);
    add(p + "self_attn.q_proj.weight", {q, d}, 0.5f / std::sqrt(float(d)));
    add(p + "self_attn.k_proj.weight", {kv, d}, 0.5f / std::sqrt(float(d)));
    add(p + "self_attn.v_proj.weight", {kv, d}, 1.0f / std::sqrt(float(d)));
    add(p + "self_attn.o_proj.weight", {d, q}, 1.0f / std::sqrt(float(q)));
    add(p + "mlp.gate_proj.weight", {h, d}, 1.0f / std::sqrt(float(d)));
    add(p + "mlp.up_proj.weight", {h, d}, 1.0f / std::sqrt(float(d)));
    add(p + "mlp.down_proj.weight", {d, h}, 1.0f / std::sqrt(float(h)));
  }
  add("model.norm.weight", {d}, 0.1f, 1.0f);
  if (!c.tied_embeddings) add("lm_head.weight", {V, d}, 1.0f / std::sqrt(float(d)));
  return w;
}


void WriteHfFolder(const TinyWeights& w, const std::string& dir, int shards) {
  fs::create_directories(dir);
  std::ofstream(fs::path(dir) / "config.json") << HfConfigJson(w.config);
  if (shards <= 1) {
    SafetensorsWriter writer;
    writer.SetMetadata("format", "pt");
    for (const auto& [name, t] : w.tensors) writer.AddF32(name, t.first, t.second.data());
    writer.Write((fs::path(dir) / "model.safetensors").string());
    return;
  }
  std::vector<SafetensorsWriter> writers(shards);
  nlohmann::json index{{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  int i = 0;
  for (const auto& [name, t] : w.tensors) {
    const int shard = i++ % shards;
    writers[shard].AddF32(name, t.first, t.second.data());
    char file[64];
    std::snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", shard + 1, shards);
    index["weight_map"][name] = file;
  }
  for (int s = 0; s < shards; ++s) {
    char file[64];
    std::snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, shards);
    writers[s].Write((fs::path(dir) / file).string());
  }
  std::ofstream(fs::path(dir) / "model.safetensors.index.json") << index.dump(2);
}

void WriteLlama2cFile(const TinyWeights& w, const std::string& path) {
  const LlamaConfig& c = w.config;
  std::ofstream out(path, std::ios::binary);
  const int32_t header[7] = {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
                             c.tied_embeddings ? c.vocab_size : -c.vocab_size, c.max_seq_len};
  out.write(reinterpret_cast<const char*>(header), sizeof header);
  auto put = [&](const std::vector<float>& v) { out.write(reinterpret_cast<const char*>(v.data()), v.size() * 4); };
  auto tensor = [&](const std::string& name) -> const std::vector<float>& { return w.tensors.at(name).second; };
  // rotate_half rows (c*half + i) back to llama2.c's interleaved rows (2i + c).
  auto to_interleaved = [&](const std::vector<float>& v, int n_heads) {
    const int half = c.head_dim / 2, cols = c.dim;
    std::vector<float> out_rows(v.size());
    for (int h = 0; h < n_heads; ++h)
      for (int i = 0; i < half; ++i)
        for (int part = 0; part < 2; ++part)
          std::memcpy(&out_rows[size_t(h * c.head_dim + 2 * i + part) * cols],
                      &v[size_t(h * c.head_dim + part * half + i) * cols], cols * sizeof(float));
    return out_rows;
  };
  auto per_layer = [&](const std::string& suffix, auto transform) {
    for (int l = 0; l < c.n_layers; ++l) put(transform(tensor("model.layers." + std::to_string(l) + "." + suffix)));
  };
  auto same = [](const std::vector<float>& v) { return v; };
  put(tensor("model.embed_tokens.weight"));
  per_layer("input_layernorm.weight", same);
  per_layer("self_attn.q_proj.weight", [&](const auto& v) { return to_interleaved(v, c.n_heads); });
  per_layer("self_attn.k_proj.weight", [&](const auto& v) { return to_interleaved(v, c.n_kv_heads); });
  per_layer("self_attn.v_proj.weight", same);
  per_layer("self_attn.o_proj.weight", same);
  per_layer("post_attention_layernorm.weight", same);
  per_layer("mlp.gate_proj.weight", same);
  per_layer("mlp.down_proj.weight", same);
  per_layer("mlp.up_proj.weight", same);
  put(tensor("model.norm.weight"));
  put(std::vector<float>(size_t(c.max_seq_len) * c.head_dim, 0.0f));  // unused legacy freq_cis tables
  if (!c.tied_embeddings) put(tensor("lm_head.weight"));
}

namespace {

// Each test process keeps its scratch folders under /tmp/quip-test-<pid> and removes
// them when it exits, so repeated suite runs do not fill /tmp. QUIP_KEEP_TEST_DIRS=1
// keeps them for debugging.
struct ProcessTempRoot {
  fs::path path = fs::temp_directory_path() / ("quip-test-" + std::to_string(::getpid()));
  ~ProcessTempRoot() {
    const char* keep = std::getenv("QUIP_KEEP_TEST_DIRS");
    if (keep != nullptr && std::string(keep) == "1") return;
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
};

const fs::path& TempRoot() {
  static const ProcessTempRoot root;
  return root.path;
}

}  // namespace

std::string MakeTempDir(const std::string& name) {
  const fs::path dir = TempRoot() / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

CommandResult RunCommand(const std::string& command) {
  const std::string full = command + " 2>&1";
  FILE* pipe = ::popen(full.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  std::array<char, 4096> buffer;
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), output};
}

std::string QuipBinary() { return QUIP_BINARY; }
std::string SourceDir() { return QUIP_SOURCE_DIR; }
std::string SharedDir() { return QUIP_SHARED_DIR; }

bool RequireFilesFromEnvironment() {
  const char* env = std::getenv("QUIP_REQUIRE_FILES");
  return env != nullptr && std::string(env) == "1";
}

uint16_t FloatToF16Bits(float f) {
  // Rounding by float arithmetic (as in Maratyszcza's FP16 library): scaling pushes the
  // bits to be dropped below the float mantissa, so the FPU rounds to nearest even.
  uint32_t w;
  std::memcpy(&w, &f, 4);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  float base = (std::fabs(f) * 0x1.0p+112f) * 0x1.0p-110f;
  uint32_t bias = shl1_w & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  const uint32_t bias_bits = (bias >> 1) + 0x07800000u;
  float bias_f;
  std::memcpy(&bias_f, &bias_bits, 4);
  base = bias_f + base;
  uint32_t bits;
  std::memcpy(&bits, &base, 4);
  const uint32_t nonsign = ((bits >> 13) & 0x7C00u) + (bits & 0x0FFFu);
  return static_cast<uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

uint16_t FloatToBf16Bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

void WriteHfFolderAs(const TinyWeights& w, const std::string& dir, DType dtype, int shards) {
  if (dtype == DType::kF32) return WriteHfFolder(w, dir, shards);
  if (dtype != DType::kF16 && dtype != DType::kBF16) throw std::invalid_argument("WriteHfFolderAs: F32, F16 or BF16");
  fs::create_directories(dir);
  std::ofstream(fs::path(dir) / "config.json") << HfConfigJson(w.config);
  shards = std::max(shards, 1);
  std::vector<SafetensorsWriter> writers(shards);
  nlohmann::json index{{"metadata", {{"total_size", 0}}}, {"weight_map", nlohmann::json::object()}};
  auto shard_name = [&](int s) {
    if (shards == 1) return std::string("model.safetensors");
    char file[64];
    std::snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", s + 1, shards);
    return std::string(file);
  };
  int i = 0;
  for (const auto& [name, t] : w.tensors) {
    std::vector<uint16_t> bits(t.second.size());
    for (size_t k = 0; k < bits.size(); ++k)
      bits[k] = dtype == DType::kF16 ? FloatToF16Bits(t.second[k]) : FloatToBf16Bits(t.second[k]);
    const int shard = i++ % shards;
    writers[shard].Add(name, dtype, t.first, bits.data(), bits.size() * 2);
    index["weight_map"][name] = shard_name(shard);
  }
  for (int s = 0; s < shards; ++s) writers[s].Write((fs::path(dir) / shard_name(s)).string());
  if (shards > 1) std::ofstream(fs::path(dir) / "model.safetensors.index.json") << index.dump(2);
}

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return q + "'";
}

SplitCommandResult RunCommandSplit(const std::string& command) {
  static int counter = 0;
  const fs::path base = fs::temp_directory_path() / ("quip-cmd-" + std::to_string(::getpid()) + "-" +
                                                     std::to_string(counter++));
  const std::string out_path = base.string() + ".out", err_path = base.string() + ".err";
  const int status =
      std::system(("(" + command + ") >" + ShellQuote(out_path) + " 2>" + ShellQuote(err_path)).c_str());
  auto slurp = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    fs::remove(path);
    return s;
  };
  SplitCommandResult r{status == -1 ? -1 : (WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)),
                       slurp(out_path), slurp(err_path)};
  return r;
}

void ExpectCleanError(const SplitCommandResult& r, const std::vector<std::string>& needles) {
  SCOPED_TRACE("stderr: " + r.err);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.exit_code, 128) << "killed by a signal (crash)";
  EXPECT_EQ(r.out, "") << "stdout must stay empty";
  ASSERT_TRUE(!r.err.empty() && r.err.back() == '\n') << "stderr must end with a whole line";
  const size_t last = r.err.rfind('\n', r.err.size() - 2) + 1;  // 0 when there is one line
  const std::string error = r.err.substr(last);
  EXPECT_EQ(error.rfind("quip: error: ", 0), 0u) << "the last stderr line must start with 'quip: error: '";
  // A progress line: "<step> (<seconds> s)" when a step ends, "<step> i/n, <seconds> s elapsed..." while it runs.
  static const std::regex kProgressLine(R"(^[^\n]* (\([0-9]+\.[0-9] s\)|[0-9]+/[0-9]+, [0-9]+ s elapsed[^\n]*)\n)");
  for (size_t at = 0; at < last;) {
    const size_t end = r.err.find('\n', at) + 1;
    const std::string line = r.err.substr(at, end - at);
    EXPECT_TRUE(std::regex_match(line, kProgressLine) && line.find("error") == std::string::npos)
        << "only progress lines may come before the error, not '" << line << "'";
    at = end;
  }
  for (const auto& needle : needles) EXPECT_NE(error.find(needle), std::string::npos) << "missing '" << needle << "'";
}

}  // namespace quip::testing
