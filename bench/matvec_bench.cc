// One-token products (decoding) of every codebook's kernel on the same matrix shapes:
// fp32 (sgemv on the pool), the scalar grid at 2/3/4 bits (kernels/quant_matmul.h) and
// E8P at 2/3/4 bits (kernels/e8p_matvec.h), with random codes. The product alone, no
// rotations: how close each kernel streams its codes to the memory bandwidth, and how
// E8P compares with the scalar grid at the same bits (issue 14: within 10 %).
// Shapes: the synthetic model's (bench/synthetic_model.h) 2048→5632 and 5632→2048, and
// books-llama-5m's 768×256. All stay in the L3 cache between calls (≤ 6 MB of codes), so this
// compares the kernels' arithmetic; bench/kernel_bench measures them streaming a whole model.
// BM_E8PFullTable: an alternative E8P kernel (a 512 KiB table of all decoded points),
// measured beside the shipped one. QTIP (issue 15): BM_Trellis per code and bits (random
// bitstreams), BM_PromptTrellis, BM_ModelProducts (one token through all the synthetic
// model's products, from memory) and the prototypes that chose the kernels' designs.
// Counters: gbps = weight bytes streamed per second; gweights_per_s = weights per second.
// Usage: matvec_bench [--threads T (2)] [Google Benchmark flags, e.g. --benchmark_format=json
//        --benchmark_repetitions=5 --benchmark_report_aggregates_only=true].
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "core/parallel.h"
#include "core/thread_pool.h"
#include "kernels/q8_activations.h"
#include "format/e8p.h"
#include "kernels/dense_matmul.h"
#include "kernels/e8p_matvec.h"
#include "kernels/quant_matmul.h"
#include "kernels/rotation.h"
#include "kernels/trellis_matvec.h"
#include "format/trellis_tiles.h"
#include "format/packing.h"
#include "format/rotation.h"
#include "quant/quantized_matrix.h"
#include "core/blas_kernels.h"

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

// An E8P matrix of random indices (every table entry, sign and shift) and the view on it.
struct RandomE8P {
  std::vector<uint8_t> codes;
  quip::kernels::E8PMatrixView view;
  RandomE8P(int rows, int cols, int bits) {
    view.rows = rows;
    view.groups = quip::E8PGroups(cols);
    view.bits = bits;
    view.row_bytes = int64_t(bits) * view.groups;
    codes = RandomBytes(size_t(rows) * view.row_bytes, 2);
    view.codes = codes.data();
    view.stage_scale[0] = 0.01f;
    view.stage_scale[1] = 0.002f;
  }
  RandomE8P(const RandomE8P&) = delete;
};

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
  // range(3) = 1: the portable Highway kernel (llama.cpp IQ2_XXS-style table reads) instead of
  // the one this CPU runs by default.
  quip::kernels::SetE8PImpl(state.range(3) ? quip::kernels::E8PImpl::kPortable : quip::kernels::E8PImpl::kAuto);
  state.SetLabel(quip::kernels::E8PImplName());
  const RandomE8P m(rows, cols, bits);
  const quip::kernels::E8PMatrixView& w = m.view;
  std::vector<float> x = RandomActivations(8 * w.groups), y(rows);
  for (auto _ : state) {
    quip::kernels::E8PMatvec(w, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, rows, cols, int64_t(rows) * w.row_bytes);
  quip::kernels::SetE8PImpl(quip::kernels::E8PImpl::kAuto);
}

// QTIP (issue 15): the trellis kernels (kernels/trellis_matvec.h) on random bitstreams, per
// code and bits; range(3) = 1: the portable Highway kernel. A random HYB table (the kernel
// reads any 2^9 × 2 floats the same way).
struct RandomTrellis {
  std::vector<uint8_t> codes = {};
  std::vector<float> table = RandomActivations(2 << quip::trellis::kHybTableBits);
  quip::kernels::TrellisMatrixView view;
  RandomTrellis(int rows, int cols, int bits, quip::trellis::Code code) {
    codes = RandomBytes(size_t(rows) * cols * bits / 8, 5);
    view.rows = rows;
    view.cols = cols;
    view.bits = bits;
    view.code = code;
    view.hyb_table = table.data();
    view.scale = 0.01f;
    view.codes = codes.data();
  }
  RandomTrellis(const RandomTrellis&) = delete;
};

void BM_Trellis(benchmark::State& state) {
  const int rows = int(state.range(0)), cols = int(state.range(1)), bits = int(state.range(2));
  const auto code = quip::trellis::Code(state.range(3));
  quip::kernels::SetTrellisImpl(state.range(4) ? quip::kernels::TrellisImpl::kPortable : quip::kernels::TrellisImpl::kAuto);
  state.SetLabel(std::string(quip::trellis::CodeName(code)) + " " + quip::kernels::TrellisImplName());
  const RandomTrellis m(rows, cols, bits, code);
  std::vector<float> x = RandomActivations(cols), y(rows);
  for (auto _ : state) {
    quip::kernels::TrellisMatvec(m.view, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, rows, cols, int64_t(rows) * cols * bits / 8);
  quip::kernels::SetTrellisImpl(quip::kernels::TrellisImpl::kAuto);
}

// One token through all products of the synthetic model (bench/kernel_bench: 8 layers of
// q, k, v, o 2048² / 256×2048, gate and up 5632×2048, down 2048×5632; 352M weights, 88 MB at
// 2 bits: streamed from memory, past the L3 cache) at 2 bits: range(0) = −1 the scalar grid,
// −2 E8P, else that trellis code; −3 and −4 the scalar grid and E8P (RVQ) at 4 bits. No rotations, attention or norms: the products' share of
// a decoded token, which kernel_bench measures whole. Counter tokens_per_s (CPU time of the
// calling thread: run with --threads 1 to count all of it).
void BM_ModelProducts(benchmark::State& state) {
  const int format = int(state.range(0));
  const std::vector<std::pair<int, int>> shapes = {{2048, 2048}, {256, 2048}, {256, 2048}, {2048, 2048},
                                                   {5632, 2048}, {5632, 2048}, {2048, 5632}};
  std::vector<std::function<void(const float*, float*)>> products;
  std::vector<std::unique_ptr<RandomTrellis>> trellis;
  std::vector<std::unique_ptr<RandomE8P>> e8p;
  std::vector<std::vector<uint8_t>> scalar_codes;
  const std::vector<float> row_scale(5632, 0.01f), row_zero(5632, 1.5f);
  for (int layer = 0; layer < 8; ++layer)
    for (const auto& [rows, cols] : shapes) {
      const int bits = format <= -3 ? 4 : 2;
      if (format == -1 || format == -3) {
        const int64_t row_bytes = quip::PackedBytes(cols, bits);
        scalar_codes.push_back(RandomBytes(size_t(rows) * row_bytes, layer));
        const quip::kernels::PackedMatrixView w{rows, cols, bits, row_bytes, scalar_codes.back().data(),
                                                row_scale.data(), row_zero.data()};
        products.push_back([w](const float* x, float* y) { quip::kernels::QuantMatmul(w, x, 1, y); });
      } else if (format == -2 || format == -4) {
        e8p.push_back(std::make_unique<RandomE8P>(rows, cols, bits));
        const quip::kernels::E8PMatrixView w = e8p.back()->view;
        products.push_back([w](const float* x, float* y) { quip::kernels::E8PMatvec(w, x, y); });
      } else {
        trellis.push_back(std::make_unique<RandomTrellis>(rows, cols, 2, quip::trellis::Code(format)));
        const quip::kernels::TrellisMatrixView w = trellis.back()->view;
        products.push_back([w](const float* x, float* y) { quip::kernels::TrellisMatvec(w, x, y); });
      }
    }
  state.SetLabel(format == -1   ? "scalar"
                 : format == -2 ? "e8p"
                 : format == -3 ? "scalar 4-bit"
                 : format == -4 ? "e8p 4-bit"
                                : std::string(quip::trellis::CodeName(quip::trellis::Code(format))) + " " +
                                      quip::kernels::TrellisImplName());
  const std::vector<float> x = RandomActivations(5632);
  std::vector<float> y(5632);
  for (auto _ : state) {
    for (const auto& product : products) product(x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(double(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ModelProducts)->Arg(-3)->Arg(-4)->Arg(-1)->Arg(-2)->Arg(0)->Arg(1)->Arg(2)->Arg(3)->Arg(4)->Unit(benchmark::kMillisecond);

void TrellisArgs(benchmark::internal::Benchmark* b) {
  for (const auto& shape : std::vector<std::pair<int, int>>{{5632, 2048}, {2048, 5632}})
    for (int code = 0; code < 5; ++code)
      for (int bits : {2, 3, 4})
        for (int impl : {0, 1})
          if (impl == 0 || bits == 2) b->Args({shape.first, shape.second, bits, code, impl});
}
BENCHMARK(BM_Trellis)->Apply(TrellisArgs)->Unit(benchmark::kMicrosecond);

#if defined(__x86_64__) && defined(__GNUC__)
// The alternative kept out of the library, measured here (issue 14 asks to try it): every
// E8P point decoded once into a 2^16-entry table of 8 weight bytes (u = 4·point + 16, 512 KiB,
// L2-resident), gathered 8 groups at a time (vpgatherdq) and multiplied with vpdpbusd.
// 2 bits only; the shipped kernel (avx512::E8PRows) decodes in registers instead.
struct FullTable {
  std::vector<uint64_t> entries = std::vector<uint64_t>(1 << 16);
  FullTable() {
    for (int idx = 0; idx < (1 << 16); ++idx) {
      float p[8];
      quip::e8p::Decode(uint16_t(idx), p);
      uint8_t u[8];
      for (int i = 0; i < 8; ++i) u[i] = uint8_t(int(4 * p[i]) + 16);
      std::memcpy(&entries[idx], u, 8);
    }
  }
};

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) float FullTableRowDot(
    const uint16_t* codes, int groups, const uint64_t* table, const int8_t* xq, const float* scale) {
  __m512 acc_f = _mm512_setzero_ps();
  for (int g0 = 0; g0 < groups; g0 += 32) {  // one 256-column activation group
    __m512i acc = _mm512_setzero_si512();
    for (int g = g0; g < g0 + 32; g += 8) {
      const __m256i idx = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + g)));
      const __m512i w = _mm512_i32gather_epi64(idx, reinterpret_cast<const long long*>(table), 8);
      acc = _mm512_dpbusd_epi32(acc, w, _mm512_loadu_si512(xq + 8 * g));
    }
    acc_f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), _mm512_set1_ps(scale[g0 / 32]), acc_f);
  }
  return _mm512_reduce_add_ps(acc_f);
}

void BM_E8PFullTable(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512vnni")) return state.SkipWithError("needs AVX-512 VNNI");
  const int rows = int(state.range(0)), cols = int(state.range(1)), groups = cols / 8;
  static const FullTable table;
  const std::vector<uint8_t> codes = RandomBytes(size_t(rows) * groups * 2, 2);
  const std::vector<float> x = RandomActivations(cols);
  std::vector<int8_t> xq(cols);
  std::vector<float> scale(quip::kernels::Q8Groups(cols)), y(rows);
  for (auto _ : state) {
    quip::kernels::QuantizeQ8(x.data(), cols, xq.data(), scale.data());
    const int per = 64;
    quip::ThreadPool::Global().Run((rows + per - 1) / per, [&](int64_t task) {
      for (int r = int(task) * per; r < std::min(rows, int(task) * per + per); ++r)
        y[r] = FullTableRowDot(reinterpret_cast<const uint16_t*>(codes.data()) + size_t(r) * groups, groups,
                               table.entries.data(), xq.data(), scale.data());
    });
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, rows, cols, int64_t(rows) * groups * 2);
}
// A first measure of QTIP's decode cost on a CPU (issue 15): 1MAD at 2 bits, 16×16 tiles
// stored row block by row block (quant/trellis_ldlq.h), each tile 16 words of its cyclic
// bitstream; per 16 weights: the 16-bit windows from two broadcast words and variable
// shifts, 34038481·s + 76625530, the byte sum (vpdpbusd with ones), float FMA with x.
// The 510 offset and 1/147.8 are per-token/per-matrix constants left out of the loop.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni"))) void Trellis1MadRows(const uint32_t* words,
                                                                                        int cols, const float* x,
                                                                                        int rb0, int rb1, float* y) {
  const int tiles = cols / 16;
  const __m512i lane2 = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i lane2r = _mm512_sub_epi32(_mm512_set1_epi32(32), lane2);
  const __m512i a = _mm512_set1_epi32(34038481), b = _mm512_set1_epi32(76625530);
  const __m512i ones = _mm512_set1_epi8(1);
  for (int rb = rb0; rb < rb1; ++rb) {
    __m512 acc[16];
    for (int r = 0; r < 16; ++r) acc[r] = _mm512_setzero_ps();
    for (int j = 0; j < tiles; ++j) {
      const uint32_t* tile = words + (size_t(rb) * tiles + j) * 16;
      const __m512 xv = _mm512_loadu_ps(x + 16 * j);
      for (int r = 0; r < 16; ++r) {
        const __m512i w0 = _mm512_set1_epi32(int(tile[r])), w1 = _mm512_set1_epi32(int(tile[(r + 1) & 15]));
        const __m512i window = _mm512_srli_epi32(
            _mm512_or_si512(_mm512_sllv_epi32(w0, lane2), _mm512_srlv_epi32(w1, lane2r)), 16);
        const __m512i h = _mm512_add_epi32(_mm512_mullo_epi32(window, a), b);
        const __m512i sum = _mm512_dpbusd_epi32(_mm512_setzero_si512(), h, ones);
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), xv, acc[r]);
      }
    }
    for (int r = 0; r < 16; ++r) y[16 * rb + r] = _mm512_reduce_add_ps(acc[r]);
  }
}

void BM_Trellis1MadPrototype(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512vnni")) return state.SkipWithError("needs AVX-512 VNNI");
  const int rows = int(state.range(0)), cols = int(state.range(1));
  const std::vector<uint8_t> bytes = RandomBytes(size_t(rows) * cols / 4, 5);  // 2 bits per weight
  const uint32_t* words = reinterpret_cast<const uint32_t*>(bytes.data());
  const std::vector<float> x = RandomActivations(cols);
  std::vector<float> y(rows);
  for (auto _ : state) {
    const int blocks = rows / 16, per = 4;
    quip::ThreadPool::Global().Run((blocks + per - 1) / per, [&](int64_t task) {
      Trellis1MadRows(words, cols, x.data(), int(task) * per, std::min(blocks, int(task) * per + per), y.data());
    });
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, rows, cols, int64_t(rows) * cols / 4);
}
BENCHMARK(BM_Trellis1MadPrototype)->Args({5632, 2048})->Args({2048, 5632})->Unit(benchmark::kMicrosecond);

// A CPU-friendly computed code measured against the QTIP ones (docs/qtip.md "Cost"): the
// state's 16-bit hash h = 0x9E37·s mod 2^16, its top 6 bits index a 64-entry int8 table
// (vpermb). 2 bits, 16-bit lanes: per 64 weights two window extractions (vpermb +
// vpmultishiftqb, 32 states each), two vpmullw, two shifts, one pack (vpermt2b), the table
// (vpermb), one vpdpbusd with the int8 activations. The +128 offset of the unsigned table
// bytes and the activation group scales are per-token constants left out.
struct Hash6Windows {
  alignas(64) uint8_t index[8][64], shift[8][64];
  Hash6Windows() {
    for (int v = 0; v < 8; ++v)
      for (int k = 0; k < 8; ++k) {
        const int first = (32 * v + 4 * k) * 2, c = first / 8;
        for (int i = 0; i < 8; ++i) index[v][8 * k + i] = uint8_t(((c + 7 - i) % 64) ^ 3);
        for (int d = 0; d < 4; ++d) {
          shift[v][8 * k + 2 * d] = uint8_t(48 - (first + 2 * d - 8 * c));
          shift[v][8 * k + 2 * d + 1] = uint8_t(56 - (first + 2 * d - 8 * c));
        }
      }
  }
};

__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi,avx512vnni"))) void TrellisHash6Rows(
    const uint8_t* codes, int cols, const int8_t* xq, const Hash6Windows& wt, const uint8_t* table, int rb0, int rb1,
    float* y) {
  const int tiles = cols / 16;
  const __m512i values = _mm512_loadu_si512(table);
  alignas(64) uint8_t even[64];
  for (int i = 0; i < 64; ++i) even[i] = uint8_t(2 * i);
  const __m512i pack = _mm512_load_si512(even);
  const __m512i hash = _mm512_set1_epi16(int16_t(0x9E37));
  for (int rb = rb0; rb < rb1; ++rb) {
    __m512i acc[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512(), _mm512_setzero_si512()};
    for (int j = 0; j < tiles; ++j) {
      const __m512i tile = _mm512_loadu_si512(codes + (size_t(rb) * tiles + j) * 64);
      const __m512i xt = _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xq + 16 * j)));
      for (int u = 0; u < 4; ++u) {
        __m512i index[2];
        for (int h = 0; h < 2; ++h) {
          const int v = 2 * u + h;
          const __m512i s = _mm512_multishift_epi64_epi8(_mm512_load_si512(wt.shift[v]),
                                                         _mm512_permutexvar_epi8(_mm512_load_si512(wt.index[v]), tile));
          index[h] = _mm512_srli_epi16(_mm512_mullo_epi16(s, hash), 10);
        }
        const __m512i w = _mm512_permutexvar_epi8(_mm512_permutex2var_epi8(index[0], pack, index[1]), values);
        acc[u] = _mm512_dpbusd_epi32(acc[u], w, xt);
      }
    }
    for (int u = 0; u < 4; ++u) {
      alignas(64) int32_t lanes[16];
      _mm512_store_si512(lanes, acc[u]);
      for (int k = 0; k < 4; ++k)
        y[16 * rb + 4 * u + k] = float(lanes[4 * k] + lanes[4 * k + 1] + lanes[4 * k + 2] + lanes[4 * k + 3]);
    }
  }
}

void BM_TrellisHash6Prototype(benchmark::State& state) {
  if (!__builtin_cpu_supports("avx512vbmi")) return state.SkipWithError("needs AVX-512 VBMI");
  const int rows = int(state.range(0)), cols = int(state.range(1));
  const std::vector<uint8_t> codes = RandomBytes(size_t(rows) * cols / 4, 5);
  const std::vector<uint8_t> table = RandomBytes(64, 6);
  static const Hash6Windows windows;
  const std::vector<float> x = RandomActivations(cols);
  std::vector<int8_t> xq(cols);
  std::vector<float> scale(quip::kernels::Q8Groups(cols)), y(rows);
  for (auto _ : state) {
    quip::kernels::QuantizeQ8(x.data(), cols, xq.data(), scale.data());
    const int blocks = rows / 16, per = 4;
    quip::ThreadPool::Global().Run((blocks + per - 1) / per, [&](int64_t task) {
      TrellisHash6Rows(codes.data(), cols, xq.data(), windows, table.data(), int(task) * per,
                       std::min(blocks, int(task) * per + per), y.data());
    });
    benchmark::DoNotOptimize(y.data());
  }
  Report(state, rows, cols, int64_t(rows) * cols / 4);
}
BENCHMARK(BM_TrellisHash6Prototype)->Args({5632, 2048})->Args({2048, 5632})->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_E8PFullTable)->Args({5632, 2048})->Args({2048, 5632})->Args({768, 256})->Unit(benchmark::kMicrosecond);
#endif

// Int8 rounding of one token's activations (kernels/q8_activations.h), run before every
// one-token product of the scalar grid and E8P: cols 2048 and 5632 (the synthetic model's
// linears). Counter values_per_s.
void BM_QuantizeQ8(benchmark::State& state) {
  const int cols = int(state.range(0));
  const std::vector<float> x = RandomActivations(cols);
  std::vector<int8_t> xq(cols);
  std::vector<float> scale(quip::kernels::Q8Groups(cols));
  for (auto _ : state) {
    quip::kernels::QuantizeQ8(x.data(), cols, xq.data(), scale.data());
    benchmark::DoNotOptimize(xq.data());
  }
  state.counters["values_per_s"] = benchmark::Counter(double(state.iterations()) * cols, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_QuantizeQ8)->Arg(2048)->Arg(5632)->Unit(benchmark::kMicrosecond);

// Prompt evaluation (64 tokens): fp32 sgemm on the pool against E8P rows decoded to fp32
// tiles (kernels::E8PDecodeRow) and the same sgemm (kernels/dense_matmul.h TiledMatmul), as
// the E8P layer runs several tokens. Counter tokens_per_s.
constexpr int kPromptTokens = 64;

// The Hadamard rotation of a prompt's activations (kernels/rotation.h FastHadamard, what an
// E8P layer adds to the fp32 product): 64 tokens of 2048 (K = 1) and 5632 (K = 44) columns,
// both directions per iteration. Counter tokens_per_s.
void BM_PromptRotation(benchmark::State& state) {
  const int n = int(state.range(0));
  const quip::Rotation r(quip::RotationKind::kRht, n, 7);
  const quip::kernels::FastRotation f(r);
  std::vector<float> x = RandomActivations(kPromptTokens * n);
  for (auto _ : state) {
    f.Apply(x.data(), kPromptTokens);
    f.ApplyTransposed(x.data(), kPromptTokens);
    benchmark::DoNotOptimize(x.data());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(double(state.iterations()) * kPromptTokens, benchmark::Counter::kIsRate);
}


void BM_PromptF32(benchmark::State& state) {
  const int rows = int(state.range(0)), cols = int(state.range(1));
  std::vector<float> w = RandomActivations(rows * cols), x = RandomActivations(kPromptTokens * cols);
  std::vector<float> y(size_t(kPromptTokens) * rows);
  for (auto _ : state) {
    quip::kernels::DenseMatmul(x.data(), kPromptTokens, w.data(), rows, cols, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(double(state.iterations()) * kPromptTokens, benchmark::Counter::kIsRate);
}

void BM_PromptE8P(benchmark::State& state) {
  const int rows = int(state.range(0)), cols = int(state.range(1)), bits = int(state.range(2));
  const RandomE8P m(rows, cols, bits);
  const quip::kernels::E8PMatrixView& w = m.view;
  std::vector<float> x = RandomActivations(kPromptTokens * cols), y(size_t(kPromptTokens) * rows);
  for (auto _ : state) {
    quip::kernels::TiledMatmul(x.data(), kPromptTokens, rows, cols, y.data(), [&](int r0, int nr, float* tile) {
      for (int r = 0; r < nr; ++r) quip::kernels::E8PDecodeRow(w, r0 + r, tile + size_t(r) * cols);
    });
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(double(state.iterations()) * kPromptTokens, benchmark::Counter::kIsRate);
}
void BM_PromptTrellis(benchmark::State& state) {
  const int rows = int(state.range(0)), cols = int(state.range(1)), bits = int(state.range(2));
  const auto code = quip::trellis::Code(state.range(3));
  state.SetLabel(std::string(quip::trellis::CodeName(code)) + " " + quip::kernels::TrellisImplName());
  const RandomTrellis m(rows, cols, bits, code);
  std::vector<float> x = RandomActivations(kPromptTokens * cols), y(size_t(kPromptTokens) * rows);
  for (auto _ : state) {
    quip::kernels::TiledMatmul(x.data(), kPromptTokens, rows, cols, y.data(), [&](int r0, int nr, float* tile) {
      quip::kernels::TrellisDecodeRowBlocks(m.view, r0 / 16, nr / 16, tile);
    });
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["tokens_per_s"] = benchmark::Counter(double(state.iterations()) * kPromptTokens, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PromptTrellis)->Args({5632, 2048, 2, 0})->Args({5632, 2048, 2, 1})->Args({5632, 2048, 2, 2})->Args({5632, 2048, 2, 3})->Args({5632, 2048, 2, 4})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PromptF32)->Args({5632, 2048})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PromptE8P)->Args({5632, 2048, 2})->Args({5632, 2048, 4})->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PromptRotation)->Arg(2048)->Arg(5632)->Unit(benchmark::kMillisecond);

void Shapes(benchmark::internal::Benchmark* b, bool with_bits, int impl = -1) {
  for (const auto& shape : std::vector<std::pair<int, int>>{{5632, 2048}, {2048, 5632}, {768, 256}}) {
    if (!with_bits) {
      b->Args({shape.first, shape.second});
      continue;
    }
    for (int bits : {2, 3, 4}) {
      if (impl < 0) {
        b->Args({shape.first, shape.second, bits});
      } else {
        b->Args({shape.first, shape.second, bits, impl});
      }
    }
  }
}

BENCHMARK(BM_F32)->Apply([](auto* b) { Shapes(b, false); })->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Scalar)->Apply([](auto* b) { Shapes(b, true); })->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_E8P)->Apply([](auto* b) { Shapes(b, true, /*impl=*/0); })->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_E8P)->Apply([](auto* b) { Shapes(b, true, /*impl=*/1); })->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  quip::UseBlasKernelsForThisCpu(argv);  // as the quip binary does
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
