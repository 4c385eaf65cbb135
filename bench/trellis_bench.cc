// Cost of QTIP's trellis search (quant/bitshift_trellis.h): one 256-weight tile quantized
// with two-pass tail-biting (two Viterbi searches over 2^16 states), per code and bits.
// Counters: us_per_tile, ns_per_weight. Google Benchmark flags work, e.g.
// --benchmark_format=json.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "quant/bitshift_trellis.h"
#include "format/trellis_codes.h"

namespace {

void BM_TailBitingTile(benchmark::State& state) {
  using namespace quip::trellis;
  const Code code = Code(state.range(0));
  const int bits = int(state.range(1)), length = 256;
  static const HybTable hyb = FitHybTable(1, 1 << 14, 5);
  const BitshiftTrellis t(kStateBits, bits, ValuesPerState(code), StateValues(code, &hyb));
  std::mt19937 rng(3);
  std::normal_distribution<float> g;
  std::vector<float> x(length);
  for (float& v : x) v = g(rng);
  std::vector<uint32_t> states(length / t.values_per_step());
  for (auto _ : state) benchmark::DoNotOptimize(t.QuantizeTailBiting(x.data(), length, states.data()));
  const double tiles = double(state.iterations());
  state.counters["us_per_tile"] = benchmark::Counter(tiles * 1e-6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["ns_per_weight"] =
      benchmark::Counter(tiles * length * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.SetLabel(std::string(CodeName(code)) + " " + std::to_string(bits) + "-bit");
}
BENCHMARK(BM_TailBitingTile)
    ->ArgsProduct({{int(quip::trellis::Code::k1Mad), int(quip::trellis::Code::kHyb)}, {2, 3, 4}})
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
