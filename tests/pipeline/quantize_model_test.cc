// QuantizeModel on tiny random models (tests/testing/tiny_model.h).
//
// Independent references: closed forms for the report's storage numbers (code bytes
// rows·⌈cols·bits/8⌉ plus 4 bytes per stored float: one scale+zero per matrix for the
// incoherent grid, per row for min/max, cols for D-tilde) and the fp32 model's own
// logits (dense path, checked against tools/llama_reference.py in tests/model) as the
// target that more bits must approach.
#include "pipeline/quantize_model.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <random>

#include "core/error.h"
#include "core/parallel.h"
#include "model/forward.h"
#include "pipeline/load.h"
#include "format/rotation.h"
#include "format/stored_linear.h"
#include "pipeline/calibration_streams.h"
#include "pipeline/methods.h"
#include "format/packing.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {

std::vector<std::vector<int>> RandomWindows(int vocab, int count, int length, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int>> windows(static_cast<size_t>(count));
  for (auto& w : windows)
    for (int i = 0; i < length; ++i) w.push_back(int(rng() % uint64_t(vocab)));
  return windows;
}

std::string TinyFolder(const std::string& name, const testing::TinyWeights& weights) {
  const std::string dir = testing::MakeTempDir(name);
  testing::WriteHfFolder(weights, dir);
  return dir;
}

nlohmann::json Quantize(Model& model, const std::string& method, int bits) {
  QuantizeModelOptions options{ConfigForMethod(method, bits), method, {}};
  options.config.seed = 1;
  return QuantizeModel(model, RandomWindows(model.config.vocab_size, 8, 32, 99), options);
}

std::vector<float> Logits(const Model& model) {
  std::vector<int> tokens{1};
  std::mt19937 rng(4);
  while (tokens.size() < 32) tokens.push_back(int(rng() % uint32_t(model.config.vocab_size)));
  Session session(model, int(tokens.size()));
  const auto l = session.Feed(tokens, true);
  return {l.begin(), l.end()};
}

double MeanAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::abs(double(a[i]) - double(b[i]));
  return s / double(a.size());
}

// Closed-form linear storage of the tiny model: (bytes, weights).
std::pair<int64_t, int64_t> ExpectedStorage(const LlamaConfig& c, int bits, bool incoherent) {
  const int64_t d = c.dim, q = c.q_dim(), kv = c.kv_dim(), h = c.hidden_dim;
  const std::pair<int64_t, int64_t> shapes[] = {{q, d}, {kv, d}, {kv, d}, {d, q}, {h, d}, {h, d}, {d, h}};
  int64_t bytes = 0, weights = 0;
  for (const auto& [rows, cols] : shapes) {
    weights += rows * cols;
    bytes += rows * ((cols * bits + 7) / 8);
    bytes += 4 * (incoherent ? 2 + cols : 2 * rows);
  }
  return {bytes * c.n_layers, weights * c.n_layers};
}

TEST(QuantizeModel, ReplacesEveryLinearAndReportsStorageAndStats) {
  const LlamaConfig c = testing::TinyConfig();
  const std::string dir = TinyFolder("replace", testing::RandomWeights(c, 21));
  for (const std::string method : {"quip", "near"})
    for (int bits : {2, 3, 4}) {
      SCOPED_TRACE(method + " " + std::to_string(bits));
      Model model = LoadModel(dir);
      std::vector<std::pair<int, int>> progress;
      QuantizeModelOptions options{ConfigForMethod(method, bits), method, {}};
      const nlohmann::json report = QuantizeModel(model, RandomWindows(c.vocab_size, 4, 24, 5), options,
                                                  [&](int done, int total) { progress.push_back({done, total}); });
      const bool incoherent = method == "quip";
      for (const auto& layer : model.layers)
        for (const Linear* l : {layer.q.get(), layer.k.get(), layer.v.get(), layer.o.get(), layer.gate.get(),
                                layer.up.get(), layer.down.get()}) {
          const StoredLinear* q = l->stored_linear();
          ASSERT_NE(q, nullptr) << "a linear was left dense";
          EXPECT_EQ(q->bits, bits);
          EXPECT_EQ(q->incoherence.incoherent, incoherent);
        }
      EXPECT_NE(dynamic_cast<const DenseLinear*>(model.lm_head.get()), nullptr) << "lm_head stays fp32";
      EXPECT_EQ(progress, (std::vector<std::pair<int, int>>{{1, 2}, {2, 2}}));

      EXPECT_EQ(report.at("method"), method);
      EXPECT_EQ(report.at("bits"), bits);
      EXPECT_EQ(report.at("incoherence"), incoherent ? "kron" : "none");
      EXPECT_EQ(report.at("calibration").at("windows"), 4);
      EXPECT_EQ(report.at("calibration").at("ctx"), 24);
      for (const char* stage : {"capture_hessians", "quantize", "propagate", "total"})
        EXPECT_GE(report.at("seconds").at(stage).get<double>(), 0.0) << stage;
      EXPECT_GT(report.at("peak_rss_bytes").get<int64_t>(), 0);
      const auto [bytes, weights] = ExpectedStorage(c, bits, incoherent);
      EXPECT_EQ(report.at("linear_bytes").get<int64_t>(), bytes);
      EXPECT_EQ(report.at("linear_weights").get<int64_t>(), weights);
      const double bpw = report.at("bits_per_linear_weight").get<double>();
      EXPECT_NEAR(bpw, 8.0 * double(bytes) / double(weights), 1e-12);
      EXPECT_GT(bpw, bits);
      EXPECT_LT(bpw, bits + 1.5);  // tiny matrices: scales and D-tilde weigh ~0.5-1.1 bits here

      const auto& linears = report.at("linears");
      ASSERT_EQ(linears.size(), 7u * c.n_layers);
      EXPECT_EQ(linears[0].at("name"), "model.layers.0.self_attn.q_proj");
      EXPECT_EQ(linears[6].at("name"), "model.layers.0.mlp.down_proj");
      for (const auto& l : linears) {
        SCOPED_TRACE(l.at("name").get<std::string>());
        const double rel = l.at("relative_proxy_loss").get<double>();
        EXPECT_TRUE(std::isfinite(rel));
        EXPECT_GT(rel, 0.0);
        EXPECT_LT(rel, 1.0) << "worse than replacing the weights by zero";
        EXPECT_TRUE(std::isfinite(l.at("proxy_loss").get<double>()));
        EXPECT_GT(l.at("rows").get<int>(), 0);
        EXPECT_GT(l.at("cols").get<int>(), 0);
        EXPECT_GE(l.at("seconds").get<double>(), 0.0);
      }
    }
}

// The report says what was stored, per linear: QuIP# asks for the Hadamard rotation, and
// TinyConfig's 136 = 17·8 has no Hadamard matrix, so the linears with that dimension fall
// back to Kronecker. Reference: the layers themselves (StoredLinear) and the Hadamard orders.
TEST(QuantizeModel, ReportRecordsTheCodebookAndRotationStoredPerLinear) {
  const LlamaConfig c = testing::TinyConfig();
  const std::string dir = TinyFolder("report-stored", testing::RandomWeights(c, 23));
  Model model = LoadModel(dir);
  QuantizeModelOptions options{ConfigForMethod("quipsharp", 2), "quipsharp", {}};
  const nlohmann::json report = QuantizeModel(model, RandomWindows(c.vocab_size, 4, 24, 5), options);
  EXPECT_EQ(report.at("incoherence"), "rht");
  EXPECT_EQ(report.at("codebook"), "e8p");
  const auto& linears = report.at("linears");
  ASSERT_EQ(linears.size(), 7u * c.n_layers);
  int kron = 0, rht = 0;
  for (int l = 0; l < c.n_layers; ++l)
    for (const BlockLinear& b : kBlockLinears) {
      if (!BlockHasLinear(c, b)) continue;
      const std::string name = "model.layers." + std::to_string(l) + "." + b.suffix;
      const auto entry = std::find_if(linears.begin(), linears.end(), [&](const auto& j) { return j.at("name") == name; });
      ASSERT_NE(entry, linears.end()) << name;
      const Linear& linear = *(model.layers[l].*b.slot);
      const StoredLinear* stored = linear.stored_linear();
      ASSERT_NE(stored, nullptr) << name;
      EXPECT_EQ(entry->at("codebook"), "e8p") << name;
      const bool hadamard = RotationSupports(RotationKind::kRht, linear.out_features()) &&
                            RotationSupports(RotationKind::kRht, linear.in_features());
      EXPECT_EQ(entry->at("incoherence"), hadamard ? "rht" : "kron") << name;
      EXPECT_EQ(entry->at("incoherence"), stored->incoherence.Name()) << name;
      (hadamard ? rht : kron) += 1;
    }
  EXPECT_GT(rht, 0);
  EXPECT_GT(kron, 0);
}

TEST(QuantizeModel, RefusesAnAlreadyQuantizedModel) {
  Model model = LoadModel(TinyFolder("twice", testing::RandomWeights(testing::TinyConfig(), 2)));
  Quantize(model, "quip", 2);
  try {
    Quantize(model, "quip", 2);
    ADD_FAILURE() << "quantized twice";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("is already quantized"));
  }
}

TEST(QuantizeModel, MoreBitsGiveLogitsCloserToFp32) {
  const std::string dir = TinyFolder("bits-vs-logits", testing::RandomWeights(testing::TinyConfig(), 8));
  const std::vector<float> reference = Logits(LoadModel(dir));
  std::map<int, double> error;
  for (int bits : {2, 3, 4}) {
    Model model = LoadModel(dir);
    Quantize(model, "quip", bits);
    error[bits] = MeanAbsDiff(Logits(model), reference);
    EXPECT_GT(error[bits], 0.0);
  }
  EXPECT_LT(error[4], error[2]) << "2 bits: " << error[2] << ", 4 bits: " << error[4];
  EXPECT_LT(error[3], error[2]);
  EXPECT_LT(error[4], error[3]);
}

TEST(QuantizeModel, IncoherenceBeatsNearestOnOutlierColumns) {
  // Every linear gets a few input columns 25x larger than the rest: the per-row min/max
  // grid of `near` spends its range on them, QuIP's rescaling + rotations spread them.
  testing::TinyWeights w = testing::RandomWeights(testing::TinyConfig(), 13);
  for (auto& [name, tensor] : w.tensors) {
    if (name.find("model.layers.") != 0 || name.find("_proj.weight") == std::string::npos) continue;
    const int64_t rows = tensor.first[0], cols = tensor.first[1];
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t col : {int64_t(3), cols / 2, cols - 2}) tensor.second[size_t(r * cols + col)] *= 25.0f;
  }
  const std::string dir = TinyFolder("outliers", w);
  auto sums = [&](const std::string& method) {
    Model model = LoadModel(dir);
    const nlohmann::json report = Quantize(model, method, 2);
    double proxy = 0, relative = 0;
    for (const auto& l : report.at("linears")) {
      proxy += l.at("proxy_loss").get<double>();
      relative += l.at("relative_proxy_loss").get<double>();
    }
    return std::make_pair(proxy, relative);
  };
  const auto quip = sums("quip"), near = sums("near");
  EXPECT_LT(quip.first, near.first) << "proxy loss sum: quip " << quip.first << ", near " << near.first;
  EXPECT_LT(quip.second, near.second) << "relative proxy loss sum: quip " << quip.second << ", near " << near.second;
}

TEST(QuantizeModel, OriginalTargetsFollowTheFp32ModelMoreClosely) {
  // Fitting every linear to the fp32 model's outputs (AsymmetricTarget) corrects the
  // error carried in from the quantized linears before it; the paper's block protocol
  // cannot. Scored on held-out random tokens, as the calibration windows are; summed over
  // four random models (on one alone a tiny random model can go either way).
  std::map<CalibrationTargets, double> error;
  for (uint64_t seed : {31, 32, 33, 34}) {
    const std::string dir = TinyFolder("targets", testing::RandomWeights(testing::TinyConfig(), seed));
    const std::vector<float> reference = Logits(LoadModel(dir));
    for (CalibrationTargets t : {CalibrationTargets::kBlock, CalibrationTargets::kSequential,
                                 CalibrationTargets::kOriginal}) {
      Model model = LoadModel(dir);
      QuantizeModelOptions options{ConfigForMethod("quip", 2), "quip", {}, t};
      options.config.seed = 1;
      const nlohmann::json report =
          QuantizeModel(model, RandomWindows(model.config.vocab_size, 32, 32, 99), options);
      EXPECT_EQ(report.at("calibration").at("targets"), CalibrationTargetsName(t));
      error[t] += MeanAbsDiff(Logits(model), reference);
    }
  }
  EXPECT_LT(error[CalibrationTargets::kOriginal], error[CalibrationTargets::kBlock])
      << "original " << error[CalibrationTargets::kOriginal] << ", block " << error[CalibrationTargets::kBlock];
  EXPECT_LT(error[CalibrationTargets::kOriginal], error[CalibrationTargets::kSequential]);
}

TEST(QuantizeModel, ResultDoesNotDependOnTheThreadCount) {
  // The windows' moments are summed in a fixed tree whatever thread ran them
  // (pipeline/window_sum.h): 11 windows on 1 and on 3 threads must give bit-identical models.
  const std::string dir = TinyFolder("threads", testing::RandomWeights(testing::TinyConfig(), 5));
  const int saved = WorkerThreads();
  for (CalibrationTargets t : {CalibrationTargets::kBlock, CalibrationTargets::kOriginal}) {
    std::vector<std::vector<float>> logits;
    for (int threads : {1, 3}) {
      SetWorkerThreads(threads);
      Model model = LoadModel(dir);
      QuantizeModelOptions options{ConfigForMethod("quip", 2), "quip", {}, t};
      QuantizeModel(model, RandomWindows(model.config.vocab_size, 11, 20, 3), options);
      logits.push_back(Logits(model));
    }
    EXPECT_EQ(logits[0], logits[1]) << CalibrationTargetsName(t);
  }
  SetWorkerThreads(saved);
}

TEST(QuantizeModel, CalibrationTargetsNamesRoundTrip) {
  for (CalibrationTargets t : {CalibrationTargets::kBlock, CalibrationTargets::kSequential,
                               CalibrationTargets::kOriginal})
    EXPECT_EQ(ParseCalibrationTargets(CalibrationTargetsName(t)), t);
  try {
    ParseCalibrationTargets("fp32");
    ADD_FAILURE() << "accepted an unknown name";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("block, sequential or original"));
  }
}

TEST(QuantizeModel, BitsOverridePatternsMatchWholeNameSegments) {
  const std::string v = "model.layers.3.self_attn.v_proj";
  EXPECT_TRUE(LinearNameMatches(v, "v_proj"));
  EXPECT_TRUE(LinearNameMatches(v, "self_attn.v_proj"));
  EXPECT_TRUE(LinearNameMatches(v, "layers.3.self_attn.v_proj"));
  EXPECT_TRUE(LinearNameMatches(v, v));
  EXPECT_FALSE(LinearNameMatches(v, "_proj"));  // not at a '.' boundary
  EXPECT_FALSE(LinearNameMatches(v, "layers.13.self_attn.v_proj"));
  EXPECT_FALSE(LinearNameMatches("model.layers.13.self_attn.v_proj", "3.self_attn.v_proj"));
  EXPECT_FALSE(LinearNameMatches(v, ""));
  EXPECT_FALSE(LinearNameMatches(v, "x." + v));
}

}  // namespace
}  // namespace quip
