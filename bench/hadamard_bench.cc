// Randomized Hadamard transform throughput (format/hadamard.h, the float path used by
// QuIP#'s incoherence processing): HadamardTransform::Apply on 16 tokens at once, for a
// power-of-two width (4096, K = 1) and a Llama-2-7B intermediate width (11008, K = 172).
// Counter us_per_token = wall time per token. Moved here from a timing loop in
// tests/format/hadamard_test.cc (speed belongs in bench/, correctness stays in the test).
// Output: any Google Benchmark flag works, e.g. --benchmark_format=json (machine-readable),
// --benchmark_out=FILE --benchmark_out_format=json.
#include <benchmark/benchmark.h>

#include <vector>

#include "format/hadamard.h"

namespace {

constexpr int kTokens = 16;

void BM_RhtFloatApply(benchmark::State& state) {
  const int n = int(state.range(0));
  const quip::HadamardTransform t(n, 7);
  std::vector<float> x(size_t(n) * kTokens, 0.5f);
  for (auto _ : state) {
    t.Apply(x.data(), kTokens);
    benchmark::DoNotOptimize(x.data());
    benchmark::ClobberMemory();
  }
  const double tokens = double(state.iterations()) * kTokens;
  state.counters["us_per_token"] =
      benchmark::Counter(tokens * 1e-6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["base_order"] = t.base_order();
  state.SetItemsProcessed(int64_t(tokens));
}
BENCHMARK(BM_RhtFloatApply)->Arg(4096)->Arg(11008)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
