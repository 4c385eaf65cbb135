// The trellis kernels (kernels/trellis_matvec.h) against the reference tile decoder written
// from the layout's definition (trellis::DecodeTileReference, format/trellis_tiles.h: bit by
// bit windows, the scalar code decoders), on random bitstreams (every state, every window
// position including the ones that wrap), 1MAD / 3INST / HYB (a random table) / HASH6, K = 2, 3, 4,
// shapes from one tile to partial 256-column activation groups; both kernels (AVX-512 where
// the CPU has it, and the portable Highway one) and every SIMD target this CPU supports.
//
// Decoded row blocks must equal the reference bit for bit. One-token products are checked
// against Σ_c w_c·x_c in double with the reference's weights; the AVX-512 1MAD and HASH6
// kernels multiply int8-rounded activations, so there x is x̂ (DequantizedQ8Activations) and the
// rare activations within float rounding of a rounding tie get tie_slack. Tolerance: float
// rounding of the kernels' sums, 1e-5 · Σ_c |w_c·x_c| (measured: ≤ 3e-7 of it).
#include "kernels/trellis_matvec.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "format/trellis_tiles.h"
#include "kernels/matmul_reference.h"
#include "kernels/quant_matmul.h"

namespace quip::kernels {
namespace {

using trellis::Code;

struct TrellisMatrix {
  std::vector<uint8_t> codes;
  std::vector<float> table;
  TrellisMatrixView view;
};

TrellisMatrix RandomTrellis(int rows, int cols, int bits, Code code, uint64_t seed) {
  std::mt19937_64 rng(seed);
  TrellisMatrix m;
  // One byte past the tiles, so that a kernel reading beyond them reads something (and ASan sees it).
  m.codes.resize(size_t(rows) * cols * bits / 8 + 1);
  for (auto& b : m.codes) b = uint8_t(rng());
  std::normal_distribution<float> g;
  m.table.resize(2 << trellis::kHybTableBits);
  for (auto& v : m.table) v = g(rng);
  m.view.rows = rows;
  m.view.cols = cols;
  m.view.bits = bits;
  m.view.code = code;
  m.view.hyb_table = code == Code::kHyb ? m.table.data() : nullptr;
  m.view.scale = std::uniform_real_distribution<float>(0.01f, 0.2f)(rng);
  m.view.codes = m.codes.data();
  return m;
}

// G as fp32 from the reference decoder, row-major.
std::vector<float> ReferenceWeights(const TrellisMatrixView& w) {
  std::vector<float> g(size_t(w.rows) * w.cols);
  const int tiles = w.cols / 16, words = trellis::TileWords(w.bits);
  float tile[trellis::kTileWeights];
  std::vector<uint32_t> stream(words);
  for (int i = 0; i < w.rows / 16; ++i)
    for (int j = 0; j < tiles; ++j) {
      std::memcpy(stream.data(), w.codes + (size_t(i) * tiles + j) * words * 4, size_t(words) * 4);
      trellis::DecodeTileReference(stream.data(), w.bits, w.code, w.hyb_table, w.scale, tile);
      for (int r = 0; r < 16; ++r)
        for (int c = 0; c < 16; ++c) g[(size_t(16 * i) + r) * w.cols + 16 * j + c] = tile[16 * r + c];
    }
  return g;
}

std::vector<float> RandomActivations(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = g(rng);
  return x;
}

bool Avx512Running() { return std::string(TrellisImplName()) == "avx512-vbmi-vnni"; }

void ExpectMatchesReference(const TrellisMatrixView& w, const std::vector<float>& x, const std::vector<float>& y) {
  const std::vector<float> g = ReferenceWeights(w);
  const bool int8 = Avx512Running() && (w.code == Code::k1Mad || w.code == Code::kHash6 || w.code == Code::kXor7);
  Q8RoundedActivations q = DequantizedQ8Activations(x.data(), int(x.size()));
  if (!int8) {
    q.x_hat.assign(x.begin(), x.end());
    q.tie_slack.assign(x.size(), 0.0);
  }
  for (int r = 0; r < w.rows; ++r) {
    double ref = 0, budget = 0, ties = 0;
    for (int c = 0; c < w.cols; ++c) {
      const double wc = g[size_t(r) * w.cols + c];
      ref += wc * q.x_hat[c];
      budget += std::abs(wc * q.x_hat[c]);
      ties += std::abs(wc) * q.tie_slack[c];
    }
    ASSERT_LE(std::abs(double(y[r]) - ref), 1e-5 * budget + ties + 1e-30) << "row " << r << ": " << y[r] << " vs " << ref;
  }
}

struct Shape {
  int rows, cols;
};
// One tile; a row of tiles; 272 and 800 columns: partial 256-column activation groups;
// 512: two whole ones; 48 rows: three row blocks, split over threads.
const Shape kShapes[] = {{16, 16}, {16, 48}, {48, 272}, {32, 512}, {16, 800}};
const TrellisImpl kImpls[] = {TrellisImpl::kAuto, TrellisImpl::kPortable};
const Code kCodes[] = {Code::k1Mad, Code::k3Inst, Code::kHyb, Code::kHash6, Code::kXor7};

class TrellisKernelTest : public ::testing::TestWithParam<int> {};  // bits

TEST_P(TrellisKernelTest, ProductMatchesReferenceDecoder) {
  const int bits = GetParam();
  uint64_t seed = 100 * bits;
  for (const TrellisImpl impl : kImpls) {
    SetTrellisImpl(impl);
    for (int threads : {1, 2, 7}) {
      SetWorkerThreads(threads);
      for (const Code code : kCodes)
        for (const Shape& s : kShapes) {
          SCOPED_TRACE(::testing::Message() << s.rows << "x" << s.cols << " " << trellis::CodeName(code) << " bits "
                                            << bits << ", threads " << threads << ", kernel " << TrellisImplName());
          const TrellisMatrix m = RandomTrellis(s.rows, s.cols, bits, code, ++seed);
          const std::vector<float> x = RandomActivations(s.cols, ++seed);
          std::vector<float> y(s.rows, -1234.0f);
          TrellisMatvec(m.view, x.data(), y.data());
          ExpectMatchesReference(m.view, x, y);
        }
    }
  }
  SetTrellisImpl(TrellisImpl::kAuto);
  SetWorkerThreads(0);
}

TEST_P(TrellisKernelTest, DecodedRowBlocksEqualReferenceDecoder) {
  const int bits = GetParam();
  for (const TrellisImpl impl : kImpls) {
    SetTrellisImpl(impl);
    for (const Code code : kCodes) {
      SCOPED_TRACE(::testing::Message() << trellis::CodeName(code) << " bits " << bits << ", kernel "
                                        << TrellisImplName());
      const TrellisMatrix m = RandomTrellis(48, 80, bits, code, 7 * bits + int(code));
      const std::vector<float> g = ReferenceWeights(m.view);
      // Row blocks 1..2 only, with a sentinel past them.
      std::vector<float> out(32 * 80 + 1, -7.0f);
      TrellisDecodeRowBlocks(m.view, 1, 2, out.data());
      for (size_t i = 0; i < 32 * 80; ++i) ASSERT_EQ(out[i], g[16 * 80 + i]) << "weight " << i;
      EXPECT_EQ(out[32 * 80], -7.0f) << "wrote past the row blocks";
    }
  }
  SetTrellisImpl(TrellisImpl::kAuto);
}

TEST_P(TrellisKernelTest, EverySupportedSimdTarget) {
  const int bits = GetParam();
  int tested = 0;
  SetTrellisImpl(TrellisImpl::kPortable);  // the Highway kernel; the AVX-512 one has no targets
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    ++tested;
    std::printf("SIMD target %s\n", hwy::TargetName(target));
    for (const Code code : kCodes) {
      SCOPED_TRACE(::testing::Message() << "target " << hwy::TargetName(target) << " " << trellis::CodeName(code));
      const TrellisMatrix m = RandomTrellis(32, 272, bits, code, 900 + tested);
      const std::vector<float> x = RandomActivations(272, 901 + tested);
      std::vector<float> y(32);
      TrellisMatvec(m.view, x.data(), y.data());
      ExpectMatchesReference(m.view, x, y);
      const std::vector<float> g = ReferenceWeights(m.view);
      std::vector<float> out(g.size());
      TrellisDecodeRowBlocks(m.view, 0, 2, out.data());
      ASSERT_EQ(out, g);
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  SetTrellisImpl(TrellisImpl::kAuto);
  EXPECT_GE(tested, 1);
}

// A non-finite activation makes every output non-finite rather than a finite wrong value.
TEST_P(TrellisKernelTest, NonFiniteActivationPoisonsOutputs) {
  for (const TrellisImpl impl : kImpls) {
    SetTrellisImpl(impl);
    for (const Code code : kCodes) {
      const TrellisMatrix m = RandomTrellis(32, 320, GetParam(), code, 5);
      std::vector<float> x = RandomActivations(320, 6);
      x[300] = NAN;
      std::vector<float> y(32);
      TrellisMatvec(m.view, x.data(), y.data());
      for (float v : y) EXPECT_FALSE(std::isfinite(v)) << TrellisImplName() << " " << trellis::CodeName(code);
    }
  }
  SetTrellisImpl(TrellisImpl::kAuto);
}

INSTANTIATE_TEST_SUITE_P(Bits, TrellisKernelTest, ::testing::Values(2, 3, 4));

// The kernel the machine runs is named (the AVX-512 one wherever the CPU has it).
TEST(TrellisKernel, NamesTheKernelItRuns) {
  SetTrellisImpl(TrellisImpl::kPortable);
  EXPECT_STREQ(TrellisImplName(), KernelTarget());
  SetTrellisImpl(TrellisImpl::kAuto);
}

}  // namespace
}  // namespace quip::kernels
