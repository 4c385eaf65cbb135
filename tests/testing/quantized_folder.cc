#include "testing/quantized_folder.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "core/error.h"
#include "format/trellis_codes.h"
#include "io/quip_format.h"
#include "pipeline/load.h"
#include "pipeline/methods.h"
#include "pipeline/quantize_model.h"
#include "testing/tiny_model.h"

namespace quip::testing {
namespace fs = std::filesystem;

std::string WriteTinyQuantizedFolder(const std::string& name, const std::string& method, int bits,
                                     const std::string& code) {
  const fs::path dir = MakeTempDir(name);
  WriteHfFolder(RandomWeights(TinyConfig(), 11), (dir / "fp32").string());
  Model model = LoadModel((dir / "fp32").string());
  std::mt19937_64 rng(5);
  std::vector<std::vector<int>> windows(4);
  for (auto& w : windows)
    for (int i = 0; i < 16; ++i) w.push_back(int(rng() % uint64_t(model.config.vocab_size)));
  QuantizeModelOptions options;
  options.config = ConfigForMethod(method, bits);
  options.config.seed = 3;
  if (!code.empty()) {
    const bool known = trellis::ParseCode(code, &options.config.trellis_code);
    QUIP_ASSERT(known);
  }
  options.method = method;
  const nlohmann::json report = QuantizeModel(model, windows, options);
  const std::string out = (dir / "quantized").string();
  WriteQuantizedModel(model, out, {{"quip.method", method}, {"quip.bits", std::to_string(bits)}}, report,
                      (dir / "fp32").string(), false);
  return out;
}

void RewriteSafetensors(const std::string& path, const SafetensorsEdit& edit) {
  std::map<std::string, std::string> metadata;
  std::map<std::string, StoredTensor> tensors;
  {
    const SafetensorsFile file(path);
    metadata = file.metadata();
    for (const auto& t : file.tensors())
      tensors[t.name] = {t.dtype, t.shape, {file.RawBytes(t), file.RawBytes(t) + (t.end - t.begin)}};
  }
  edit(metadata, tensors);
  SafetensorsWriter writer;
  for (const auto& [k, v] : metadata) writer.SetMetadata(k, v);
  for (const auto& [name, t] : tensors) writer.Add(name, t.dtype, t.shape, t.bytes.data(), t.bytes.size());
  writer.Write(path);
}

void ExpectLoadError(const std::string& out, const std::vector<std::string>& needles) {
  try {
    LoadModel(out);
    ADD_FAILURE() << "LoadModel accepted the edited folder " << out;
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr(out + "/model.safetensors")) << "the error must name the file";
    for (const auto& n : needles) EXPECT_THAT(e.what(), ::testing::HasSubstr(n));
  }
}

namespace {
std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

nlohmann::json ReportWithoutMeasurements(const std::string& path) {
  nlohmann::json r = nlohmann::json::parse(ReadBytes(path));
  for (const char* key : {"seconds", "peak_rss_bytes", "rss_at_start_bytes", "memory_estimate_bytes", "profile",
                          "distributed"})
    r.erase(key);
  for (auto& linear : r["linears"]) linear.erase("seconds");
  if (r.contains("block_tune"))
    for (auto& block : r["block_tune"]["blocks"]) block.erase("seconds");
  return r;
}

void ExpectSameFolder(const std::string& a, const std::string& b) {
  std::vector<std::string> names_a, names_b;
  for (const auto& e : fs::directory_iterator(a)) names_a.push_back(e.path().filename().string());
  for (const auto& e : fs::directory_iterator(b)) names_b.push_back(e.path().filename().string());
  std::sort(names_a.begin(), names_a.end());
  std::sort(names_b.begin(), names_b.end());
  ASSERT_EQ(names_a, names_b);
  for (const auto& name : names_a) {
    SCOPED_TRACE(name);
    if (name == "quant_report.json") {
      EXPECT_EQ(ReportWithoutMeasurements(a + "/" + name), ReportWithoutMeasurements(b + "/" + name));
    } else {
      EXPECT_TRUE(ReadBytes(a + "/" + name) == ReadBytes(b + "/" + name)) << "different bytes";
    }
  }
}

}  // namespace quip::testing
