// The E8P decode kernel (kernels/e8p_matvec.h) against a reference written from the
// codebook's definition: every group decoded with e8p::Decode / E8OneBitCodebook::Points
// in double, multiplied in double with the int8-rounded activations x̂
// (DequantizedQ8Activations, the rounding's definition computed in double). Random codes cover every table entry, sign pattern and
// shift; shapes cover a single group, vector tails (groups not a multiple of 4 or 8),
// partial 256-column activation groups, the AVX-512 kernel's 64-group blocks (whole,
// partial, one and a half) and Llama widths; 2, 3 and 4 bits; 1, 2 and 7 threads; both
// kernels (AVX-512 where the CPU has it, and the portable one) and every SIMD target this
// CPU supports.
//
// Tolerance: float rounding of the kernel's sums, |y − y_ref| ≤ 1e-5 · ¼ Σ_stage scale ·
// Σ_c |P_c|·|x̂_c|, plus ¼ Σ_stage scale · |P_c| · a_g for the rare activations within float
// rounding of a rounding tie (tie_slack), which the kernel may round either way.
#include "kernels/e8p_matvec.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "kernels/matmul_reference.h"
#include "kernels/quant_matmul.h"
#include "quant/block_ldlq.h"
#include "format/e8p.h"

namespace quip::kernels {
namespace {

struct E8PMatrix {
  std::vector<uint8_t> codes;
  E8PMatrixView view;
};

E8PMatrix RandomE8P(int rows, int groups, int bits, uint64_t seed) {
  std::mt19937_64 rng(seed);
  E8PMatrix m;
  m.codes.resize(size_t(rows) * bits * groups);
  for (auto& b : m.codes) b = uint8_t(rng());
  m.view.rows = rows;
  m.view.groups = groups;
  m.view.bits = bits;
  m.view.row_bytes = int64_t(bits) * groups;
  m.view.codes = m.codes.data();
  std::uniform_real_distribution<float> scale(0.01f, 0.2f);
  m.view.stage_scale[0] = scale(rng);
  m.view.stage_scale[1] = bits > 2 ? scale(rng) : 0.0f;
  return m;
}

// 4·point of each of the row's stages, decoded from the definition.
std::vector<std::vector<double>> DecodeRow(const E8PMatrixView& w, int r) {
  const uint8_t* row = w.codes + int64_t(r) * w.row_bytes;
  const int G = w.groups;
  std::vector<std::vector<double>> stages(w.bits == 2 ? 1 : 2, std::vector<double>(8 * G));
  double p[8];
  for (int g = 0; g < G; ++g) {
    e8p::Decode(uint16_t(row[2 * g] | (row[2 * g + 1] << 8)), p);
    for (int i = 0; i < 8; ++i) stages[0][8 * g + i] = 4 * p[i];
    if (w.bits == 3)
      for (int i = 0; i < 8; ++i) stages[1][8 * g + i] = 4 * E8OneBitCodebook::Points()[row[2 * G + g]][i];
    if (w.bits == 4) {
      e8p::Decode(uint16_t(row[2 * G + 2 * g] | (row[2 * G + 2 * g + 1] << 8)), p);
      for (int i = 0; i < 8; ++i) stages[1][8 * g + i] = 4 * p[i];
    }
  }
  return stages;
}

void ExpectMatchesReference(const E8PMatrixView& w, const std::vector<float>& x, const std::vector<float>& y) {
  const Q8RoundedActivations q = DequantizedQ8Activations(x.data(), int(x.size()));
  for (int r = 0; r < w.rows; ++r) {
    const auto stages = DecodeRow(w, r);
    double ref = 0, budget = 0, ties = 0;
    for (size_t s = 0; s < stages.size(); ++s)
      for (size_t c = 0; c < x.size(); ++c) {
        ref += 0.25 * w.stage_scale[s] * stages[s][c] * q.x_hat[c];
        budget += 0.25 * w.stage_scale[s] * std::abs(stages[s][c] * q.x_hat[c]);
        ties += 0.25 * w.stage_scale[s] * std::abs(stages[s][c]) * q.tie_slack[c];
      }
    ASSERT_LE(std::abs(double(y[r]) - ref), 1e-5 * budget + ties + 1e-30)
        << "row " << r << ": " << y[r] << " vs " << ref;
  }
}

std::vector<float> RandomActivations(int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = g(rng);
  return x;
}

struct Shape {
  int rows, groups;
};
// groups: one; one short of / past a 4- and 8-group vector; 32 groups = one 256-column
// activation group, 33 = one group into the next; 256 = 2048 columns; 704 = 5632.
// 64 groups = one AVX-512 block, 65/96/127/160: partial blocks after whole ones.
const Shape kShapes[] = {{1, 1}, {3, 3}, {5, 4}, {7, 5}, {2, 7}, {9, 9}, {17, 31}, {8, 32}, {33, 33}, {3, 64},
                         {5, 65}, {6, 96}, {4, 100}, {4, 127}, {2, 160}, {64, 256}, {40, 704}};
const E8PImpl kImpls[] = {E8PImpl::kAuto, E8PImpl::kPortable};

class E8PKernelTest : public ::testing::TestWithParam<int> {};  // bits

TEST_P(E8PKernelTest, MatchesDecodedReference) {
  const int bits = GetParam();
  uint64_t seed = 40 * bits;
  for (const E8PImpl impl : kImpls) {
    SetE8PImpl(impl);
    for (int threads : {1, 2, 7}) {
      SetWorkerThreads(threads);
      for (const Shape& s : kShapes) {
        SCOPED_TRACE(::testing::Message() << s.rows << "x" << s.groups << " groups, bits " << bits << ", threads "
                                          << threads << ", kernel " << E8PImplName());
        const E8PMatrix m = RandomE8P(s.rows, s.groups, bits, ++seed);
        const std::vector<float> x = RandomActivations(8 * s.groups, ++seed);
        std::vector<float> y(s.rows, -1234.0f);
        E8PMatvec(m.view, x.data(), y.data());
        ExpectMatchesReference(m.view, x, y);
      }
    }
  }
  SetE8PImpl(E8PImpl::kAuto);
  SetWorkerThreads(0);
}

TEST_P(E8PKernelTest, EverySupportedSimdTarget) {
  const int bits = GetParam();
  int tested = 0;
  SetE8PImpl(E8PImpl::kPortable);  // the Highway kernel; the AVX-512 one has no targets
  for (const int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    ++tested;
    std::printf("SIMD target %s\n", hwy::TargetName(target));
    for (const Shape& s : {Shape{3, 3}, Shape{9, 33}, Shape{5, 100}}) {
      SCOPED_TRACE(::testing::Message() << "target " << hwy::TargetName(target) << " " << s.rows << "x" << s.groups);
      const E8PMatrix m = RandomE8P(s.rows, s.groups, bits, 900 + tested);
      const std::vector<float> x = RandomActivations(8 * s.groups, 901 + tested);
      std::vector<float> y(s.rows);
      E8PMatvec(m.view, x.data(), y.data());
      ExpectMatchesReference(m.view, x, y);
    }
  }
  hwy::SetSupportedTargetsForTest(0);
  SetE8PImpl(E8PImpl::kAuto);
  EXPECT_GE(tested, 1);
}

// A non-finite activation poisons the outputs instead of giving finite wrong values.
TEST_P(E8PKernelTest, NonFiniteActivationGivesNaN) {
  const E8PMatrix m = RandomE8P(6, 40, GetParam(), 5);
  std::vector<float> x = RandomActivations(320, 6);
  x[300] = INFINITY;
  for (const E8PImpl impl : kImpls) {
    SetE8PImpl(impl);
    std::vector<float> y(6);
    E8PMatvec(m.view, x.data(), y.data());
    for (float v : y) EXPECT_TRUE(std::isnan(v)) << E8PImplName();
  }
  SetE8PImpl(E8PImpl::kAuto);
}

// Rows decoded to fp32 (the tiles of prompt evaluation) equal ¼·Σ_stage scale·P exactly up
// to float rounding of the products and their sum (≤ 2 ulp of the larger term).
TEST_P(E8PKernelTest, DecodedRowsMatchTheDefinition) {
  const int bits = GetParam();
  for (const E8PImpl impl : kImpls) {
    SetE8PImpl(impl);
    for (const Shape& s : kShapes) {
      SCOPED_TRACE(::testing::Message() << s.rows << "x" << s.groups << " groups, kernel " << E8PImplName());
      const E8PMatrix m = RandomE8P(s.rows, s.groups, bits, 300 + s.groups);
      std::vector<float> out(8 * s.groups + 1, -7.0f);  // one sentinel past the row
      for (int r = 0; r < s.rows; ++r) {
        E8PDecodeRow(m.view, r, out.data());
        const auto stages = DecodeRow(m.view, r);
        for (int c = 0; c < 8 * s.groups; ++c) {
          double ref = 0, magnitude = 0;
          for (size_t st = 0; st < stages.size(); ++st) {
            ref += 0.25 * m.view.stage_scale[st] * stages[st][c];
            magnitude = std::max(magnitude, std::abs(0.25 * m.view.stage_scale[st] * stages[st][c]));
          }
          ASSERT_LE(std::abs(double(out[c]) - ref), 2.4e-7 * magnitude) << "row " << r << " col " << c;
        }
        ASSERT_EQ(out[8 * s.groups], -7.0f) << "wrote past the row";
      }
    }
  }
  SetE8PImpl(E8PImpl::kAuto);
}

// The kernel the machine runs is named (the AVX-512 one wherever the CPU has it).
TEST(E8PKernel, NamesTheKernelItRuns) {
  SetE8PImpl(E8PImpl::kPortable);
  EXPECT_STREQ(E8PImplName(), KernelTarget());
  SetE8PImpl(E8PImpl::kAuto);
  std::printf("E8P kernel: %s\n", E8PImplName());
  EXPECT_TRUE(std::string(E8PImplName()) == "avx512-vbmi-vnni-gfni" || std::string(E8PImplName()) == KernelTarget());
}

INSTANTIATE_TEST_SUITE_P(Bits, E8PKernelTest, ::testing::Values(2, 3, 4),
                         [](const auto& info) { return std::to_string(info.param) + "bit"; });

}  // namespace
}  // namespace quip::kernels
