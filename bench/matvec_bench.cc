// One-token products (decoding) of every codebook's kernel on the same matrix shapes:
// fp32 (sgemv on the pool), the scalar grid at 2/3/4 bits (kernels/quant_matmul.h) and
// E8P at 2/3/4 bits (kernels/e8p_matvec.h), with random codes. The product alone, no
// rotations: how close each kernel streams its codes to the memory bandwidth, and how
// E8P compares with the scalar grid at the same bits (issue 14: within 10 %).
// Shapes: the synthetic model's (bench/synthetic_model.h) 2048→5632 and 5632→2048, and a
// cache-resident 768×256 (books-llama-5m's MLP), where the decode arithmetic is the limit.
// Counters: gbps = weight bytes streamed per second; gweights_per_s = weights per second.
// Usage: matvec_bench [--threads T (2)] [Google Benchmark flags, e.g. --benchmark_format=json
//        --benchmark_repetitions=5 --benchmark_report_aggregates_only=true].
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "core/parallel.h"
#include "kernels/dense_matmul.h"
#include "kernels/e8p_matvec.h"
#include "kernels/quant_matmul.h"
#include "quant/packing.h"
#include "quant/quantized_matrix.h"

namespace {

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> b(n);
  for (auto& v : b) v = uint8_t(rng());
  return b;
}

std::vector<float> RandomActivations(int n) {
  std::mt19937 rng(7);
  std::normal_distribution<float> g;
  std::vector<float> x(n);
  for (auto& v : x) v = g(rng);
  return x;
}

void Report(benchmark::State& state, int64_t rows, int64_t cols, int64_t bytes) {
  const double calls = double(state.iterations());
  state.counters["gbps"] = benchmark::Counter(calls * double(bytes) * 1e-9, benchmark::Counter::kIsRate);
  state.counters["gweights_per_s"] =
      benchmark::Counter(calls * double(rows * cols) * 1e-9, benchmark::Counter::kIsRate);
  state.counters["bits_per_weight"] = 8.0 * double(bytes) / double(rows * cols);
}

void BM_F32(benchmark::State& state) {
  const int rows = int(state.range(0)), cols = int(state.range(1));
  std::vector<float> w = RandomActivations(rows * cols), x = RandomActivations(cols), y(rows);
  for (auto _ : state) {
    quip::kernels::DenseMatmul(x.data(), 1, w.data(), rows, cols, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, rows, cols, int64_t(rows) * cols * 4);
}

void BM_Scalar(benchmark::State& state) {
  const int rows = int(state.range(0)), cols = int(state.range(1)), bits = int(state.range(2));
  const int64_t row_bytes = quip::PackedBytes(cols, bits);
  const std::vector<uint8_t> codes = RandomBytes(size_t(rows) * row_bytes, 1);
  const std::vector<float> scale(rows, 0.01f), zero(rows, 1.5f);
  const quip::kernels::PackedMatrixView w{rows, cols, bits, row_bytes, codes.data(), scale.data(), zero.data()};
  std::vector<float> x = RandomActivations(cols), y(rows);
  for (auto _ : state) {
    quip::kernels::QuantMatmul(w, x.data(), 1, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, rows, cols, int64_t(rows) * row_bytes);
}

void BM_E8P(benchmark::State& state) {
  const int rows = int(state.range(0)), cols = int(state.range(1)), bits = int(state.range(2));
  quip::kernels::E8PMatrixView w;
  w.rows = rows;
  w.groups = quip::E8PGroups(cols);
  w.bits = bits;
  w.row_bytes = int64_t(bits) * w.groups;
  const std::vector<uint8_t> codes = RandomBytes(size_t(rows) * w.row_bytes, 2);
  w.codes = codes.data();
  w.stage_scale[0] = 0.01f;
  w.stage_scale[1] = 0.002f;
  std::vector<float> x = RandomActivations(8 * w.groups), y(rows);
  for (auto _ : state) {
    quip::kernels::E8PMatvec(w, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, rows, cols, int64_t(rows) * w.row_bytes);
}

void Shapes(benchmark::internal::Benchmark* b, bool with_bits) {
  for (const auto& shape : std::vector<std::pair<int, int>>{{5632, 2048}, {2048, 5632}, {768, 256}}) {
    if (!with_bits) {
      b->Args({shape.first, shape.second});
      continue;
    }
    for (int bits : {2, 3, 4}) b->Args({shape.first, shape.second, bits});
  }
}

BENCHMARK(BM_F32)->Apply([](auto* b) { Shapes(b, false); })->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Scalar)->Apply([](auto* b) { Shapes(b, true); })->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_E8P)->Apply([](auto* b) { Shapes(b, true); })->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  int threads = 2;
  std::vector<char*> rest{argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else {
      rest.push_back(argv[i]);
    }
  }
  quip::SetWorkerThreads(threads);
  int n = int(rest.size());
  benchmark::Initialize(&n, rest.data());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
