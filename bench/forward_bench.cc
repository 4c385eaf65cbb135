// fp32 forward-pass throughput (issue 3 §6).
//
// For each model and thread count:
//   BM_PromptEval  one Session::Feed of a 256-token prompt (last logits only);
//                  counter tok_per_s = 256 tokens per iteration / wall time.
//   BM_Decode      after a 256-token prompt (not timed), 128 single-token Feeds,
//                  each fed the argmax of the previous logits; tok_per_s = 128 / wall time.
// Every benchmark also reports peak_rss_mb (getrusage ru_maxrss, process-wide peak so
// far). Models are loaded lazily, smallest first (stories260K is registered first), so
// the stories260K rows show the process peak before books-llama-5m was ever loaded.
//
// Models: books-llama-5m from $QUIP_SHARED/models/books-llama-5m (QUIP_SHARED defaults
// to <source>/../shared), stories260K from <source>/models/stories260K.
// Output: any Google Benchmark flag works, e.g. --benchmark_format=json,
// --benchmark_out=FILE --benchmark_out_format=json, --benchmark_filter=books.
// Exit status is 1 when a benchmark could not run (e.g. a model is missing).
#include <benchmark/benchmark.h>
#include <thread>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/forward.h"
#include "pipeline/load.h"
#include "core/blas_kernels.h"

namespace {

constexpr int kPromptTokens = 256;
constexpr int kDecodeTokens = 128;

bool g_failed = false;

struct ModelSpec {
  std::string name;
  std::string path;
  std::string hint;  // how to point the benchmark at the model
};

std::string SharedDir() {
  const char* env = std::getenv("QUIP_SHARED");
  return env && *env ? std::string(env) : std::string(QUIP_SHARED_DIR);
}

ModelSpec Books() {
  return {"books-llama-5m", SharedDir() + "/models/books-llama-5m",
          "set QUIP_SHARED to the folder that holds models/books-llama-5m"};
}
ModelSpec Stories() {
  return {"stories260K", std::string(QUIP_SOURCE_DIR) + "/models/stories260K", "it ships with the repository"};
}

// Holds one model at a time, so a later model does not inherit an earlier one's pages.
const quip::Model* GetModel(const ModelSpec& spec, benchmark::State& state) {
  static std::string loaded_name;
  static std::unique_ptr<quip::Model> loaded;
  static std::map<std::string, std::string> errors;
  if (loaded && loaded_name == spec.name) return loaded.get();
  if (auto it = errors.find(spec.name); it != errors.end()) {
    state.SkipWithError(it->second.c_str());
    return nullptr;
  }
  loaded.reset();
  loaded_name.clear();
  std::string error;
  if (!std::filesystem::exists(spec.path)) {
    error = "forward_bench: model " + spec.name + " not found at " + spec.path + " (" + spec.hint + ")";
  } else {
    try {
      loaded = std::make_unique<quip::Model>(quip::LoadModel(spec.path));
      loaded_name = spec.name;
      return loaded.get();
    } catch (const std::exception& e) {
      error = "forward_bench: cannot load " + spec.name + ": " + e.what();
    }
  }
  std::fprintf(stderr, "%s\n", error.c_str());
  errors[spec.name] = error;
  g_failed = true;
  state.SkipWithError(error.c_str());
  return nullptr;
}

std::vector<int> Prompt(const quip::Model& model) {
  // Deterministic ids spread over the vocabulary (speed does not depend on the text).
  std::vector<int> ids(kPromptTokens);
  ids[0] = model.config.bos_id;
  const int vocab = model.config.vocab_size;
  for (int i = 1; i < kPromptTokens; ++i) ids[i] = 3 + int((uint64_t(i) * 2654435761u) % uint64_t(vocab - 3));
  return ids;
}

// "model name" of /proc/cpuinfo (Google Benchmark's context has no CPU model).
std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown";
}

double PeakRssMb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux
}

void SetCommonCounters(benchmark::State& state, const quip::Model& model, double tokens_per_iter) {
  state.counters["tok_per_s"] = benchmark::Counter(tokens_per_iter, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["quip_threads"] = benchmark::Counter(double(state.range(0)));
  state.counters["peak_rss_mb"] = benchmark::Counter(PeakRssMb());
  state.counters["params_m"] = benchmark::Counter(model.config.ParameterCount() / 1e6);
}

void BM_PromptEval(benchmark::State& state, ModelSpec spec) {
  const quip::Model* model = GetModel(spec, state);
  if (!model) return;
  quip::SetThreads(int(state.range(0)));
  const std::vector<int> prompt = Prompt(*model);
  quip::Session session(*model, kPromptTokens);
  session.Feed(prompt, false);  // warm-up: touch weights and scratch
  for (auto _ : state) {
    session.Reset();
    auto logits = session.Feed(prompt, false);
    benchmark::DoNotOptimize(logits.data());
  }
  SetCommonCounters(state, *model, kPromptTokens);
  state.SetLabel(spec.name);
}

void BM_Decode(benchmark::State& state, ModelSpec spec) {
  const quip::Model* model = GetModel(spec, state);
  if (!model) return;
  quip::SetThreads(int(state.range(0)));
  const std::vector<int> prompt = Prompt(*model);
  quip::Session session(*model, kPromptTokens + kDecodeTokens);
  for (auto _ : state) {
    state.PauseTiming();
    session.Reset();
    auto logits = session.Feed(prompt, false);
    int token = int(std::max_element(logits.begin(), logits.end()) - logits.begin());
    state.ResumeTiming();
    for (int i = 0; i < kDecodeTokens; ++i) {
      logits = session.Feed(std::span<const int>(&token, 1), false);
      token = int(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    benchmark::DoNotOptimize(token);
  }
  SetCommonCounters(state, *model, kDecodeTokens);
  state.SetLabel(spec.name);
}

void Register() {
  // Smallest model first: see the note on peak_rss_mb above.
  for (const ModelSpec& spec : {Stories(), Books()}) {
    benchmark::RegisterBenchmark(("BM_PromptEval/" + spec.name).c_str(), BM_PromptEval, spec)
        ->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("BM_Decode/" + spec.name).c_str(), BM_Decode, spec)
        ->ArgName("threads")->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
  }
}

}  // namespace

int main(int argc, char** argv) {
  quip::UseBlasKernelsForThisCpu(argv);  // as the quip binary does
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("cpu_model", CpuModel());
  benchmark::AddCustomContext("quip_build_type", QUIP_BUILD_TYPE);
  // Thread settings change the 2-thread numbers, so record them with the results.
  for (const char* name : {"OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE"}) {
    const char* value = std::getenv(name);
    benchmark::AddCustomContext(std::string("env_") + name, value ? value : "");
  }
  benchmark::AddCustomContext("hardware_threads", std::to_string(std::thread::hardware_concurrency()));
  benchmark::AddCustomContext("prompt_tokens", std::to_string(kPromptTokens));
  benchmark::AddCustomContext("decode_tokens", std::to_string(kDecodeTokens));
  benchmark::AddCustomContext("books_model", Books().path);
  Register();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return g_failed ? 1 : 0;
}
