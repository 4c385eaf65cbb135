// Seconds and GFLOP/s per phase of quantization (issue 19) on random-weight Llamas of
// growing width, calibrated on random tokens: the shapes decide the cost, not the
// weights' values. Prints one JSON object (bench/results/quantize_bench.json; the
// table and the extrapolation to 7B are in docs/quantize-speed.md).
//   quantize_bench [hidden=512,1024] [layers=2] [nsamples=8] [ctx=128] [method=quip]
//                  [bits=2] [threads=0] [mu_h=0]
// ffn = 2.75·hidden, 64-wide heads with 4 queries per KV head, vocab 512. hidden and
// nsamples take comma-separated lists: one run per (hidden, nsamples) pair, which is
// what bench/run_quantize_scaling.sh fits the cost's growth to.
#include <fmt/core.h>

#include <chrono>
#include <ctime>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench/synthetic_model.h"
#include "core/parallel.h"
#include "core/phase_profile.h"
#include "model/forward.h"
#include "pipeline/methods.h"
#include "pipeline/quantize_model.h"
#include "format/seeded_random.h"
#include "core/blas_kernels.h"
#include "core/resources.h"

namespace {

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  quip::UseBlasKernelsForThisCpu(argv);  // as the quip binary does
  quip::ShareOneMallocArena();
  std::map<std::string, std::string> arg{{"hidden", "512,1024"}, {"layers", "2"},  {"nsamples", "8"},
                                         {"ctx", "128"},         {"method", "quip"}, {"bits", "2"},
                                         {"threads", "0"},       {"mu_h", "0"}};
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const size_t eq = a.find('=');
    if (eq == std::string::npos || !arg.count(a.substr(0, eq))) {
      fmt::print(stderr, "quantize_bench: unknown argument '{}'\n", a);
      return 2;
    }
    arg[a.substr(0, eq)] = a.substr(eq + 1);
  }
  quip::SetThreads(std::stoi(arg["threads"]));
  const int layers = std::stoi(arg["layers"]), ctx = std::stoi(arg["ctx"]);
  const std::vector<int> nsamples_list = ParseList(arg["nsamples"]);
  nlohmann::json runs = nlohmann::json::array();
  for (int hidden : ParseList(arg["hidden"])) for (int nsamples : nsamples_list) {
    quip::LlamaConfig c;
    c.dim = hidden;
    c.hidden_dim = hidden * 11 / 4;
    c.n_layers = layers;
    c.head_dim = 64;
    c.n_heads = hidden / 64;
    c.n_kv_heads = std::max(1, c.n_heads / 4);
    c.vocab_size = 512;
    c.max_seq_len = std::max(ctx, 256);
    quip::Model model = quip::bench::MakeRandomModel(c, 5);
    quip::SeededRandom rng(7);
    std::vector<std::vector<int>> windows(nsamples, std::vector<int>(ctx));
    for (auto& w : windows)
      for (int& t : w) t = int(rng.Below(uint64_t(c.vocab_size)));
    quip::QuantizeModelOptions options;
    options.config = quip::ConfigForMethod(arg["method"], std::stoi(arg["bits"]));
    options.method = arg["method"];
    if (arg["mu_h"] == "0") options.config.mu_h_max_dim = 0;
    quip::PhaseProfile profile;
    fmt::print(stderr, "hidden {} ffn {} layers {}, {} x {} tokens: quantizing ...\n", c.dim, c.hidden_dim, layers,
               nsamples, ctx);
    const auto start = std::chrono::steady_clock::now();
    const std::clock_t cpu_start = std::clock();  // all threads: the machine may be shared
    {
      const quip::ActiveProfile active(&profile);
      quip::QuantizeModel(model, windows, options);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu_seconds = double(std::clock() - cpu_start) / CLOCKS_PER_SEC;
    fmt::print(stderr, "{}total {:.2f} s, {:.2f} CPU s\n", profile.Table(), seconds, cpu_seconds);
    runs.push_back({{"hidden", c.dim},
                    {"ffn", c.hidden_dim},
                    {"layers", layers},
                    {"nsamples", nsamples},
                    {"tokens", int64_t(nsamples) * ctx},
                    {"parameters_linear", int64_t(layers) * (2 * int64_t(c.dim) * c.q_dim() +
                                                             2 * int64_t(c.dim) * c.kv_dim() +
                                                             3 * int64_t(c.dim) * c.hidden_dim)},
                    {"seconds", seconds},
                    {"cpu_seconds", cpu_seconds},
                    {"profile", profile.ToJson()}});
  }
  const nlohmann::json result{{"method", arg["method"]},
                              {"bits", std::stoi(arg["bits"])},
                              {"nsamples", nsamples_list},
                              {"ctx", ctx},
                              {"threads", quip::WorkerThreads()},
                              {"mu_h", arg["mu_h"] != "0"},
                              {"runs", runs}};
  fmt::print("{}\n", result.dump(2));
  return 0;
}
