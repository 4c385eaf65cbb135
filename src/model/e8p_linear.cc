#include "model/e8p_linear.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/dense_matmul.h"
#include "quant/block_ldlq.h"
#include "quant/e8p.h"

namespace quip {
namespace {

// Up to this many tokens are multiplied group by group (decode); more go through
// dequantized tiles and sgemm (prompt evaluation, perplexity).
constexpr int kDecodeBatch = 4;
constexpr int kRowsPerTask = 16;

// Decode tables. Every E8P coordinate is a multiple of ¼ (odd halves ± ¼), so 4·point is
// an 8-vector of small odd integers: all 2^16 points fit one 512 KiB int8 table, and decoding
// a group is one 8-byte load and an int→float conversion, no sign or parity logic (the
// points a real layer uses cluster in few table rows, so the hot part stays in cache).
struct Tables {
  alignas(64) int8_t quarters[e8p::kNumPoints][8];  // 4·E8P(idx)
  alignas(32) float one_bit[256][8];                // 3-bit second stage (E8OneBitCodebook)
};

const Tables& DecodeTables() {
  static const Tables* tables = [] {
    auto* t = new Tables();  // 520 KiB: built on the heap, kept for the process
    double p[8];
    for (int idx = 0; idx < e8p::kNumPoints; ++idx) {
      e8p::Decode(uint16_t(idx), p);
      for (int i = 0; i < 8; ++i) t->quarters[idx][i] = int8_t(std::lround(4.0 * p[i]));
    }
    const auto& one_bit = E8OneBitCodebook::Points();
    for (int b = 0; b < 256; ++b)
      for (int i = 0; i < 8; ++i) t->one_bit[b][i] = float(one_bit[b][i]);  // multiples of ¼: exact
    return t;
  }();
  return *tables;
}

inline uint16_t Load16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }

// Dot products accumulate lane-wise, acc[i] += w_i·x_i over a row's groups: a group of 8
// weights is one 8-float vector (GCC/Clang vector extension: AVX on x86, two NEON registers
// on ARM), and the lanes are summed once per row.
using Vec8 = float __attribute__((vector_size(32)));
using Vec8i8 = int8_t __attribute__((vector_size(8)));
using Vec8i32 = int32_t __attribute__((vector_size(32)));

inline Vec8 Load8(const float* p) {
  Vec8 v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// 4·E8P(idx) as floats. GCC scalarises the generic int8→float vector conversion (8 extracts),
// so AVX2 builds use the one sign-extending move + one conversion it should have been.
// TODO(kernels): move the E8P dot into src/kernels with Highway dispatch like QuantMatmul.
inline Vec8 Quarters(const Tables& t, uint16_t idx) {
#if defined(__AVX2__)
  const __m256 f =
      _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(t.quarters[idx]))));
  Vec8 v;
  std::memcpy(&v, &f, sizeof(v));
  return v;
#else
  Vec8i8 q;
  std::memcpy(&q, t.quarters[idx], sizeof(q));
  return __builtin_convertvector(__builtin_convertvector(q, Vec8i32), Vec8);
#endif
}

inline float LaneSum(const Vec8& a) { return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7])); }

std::vector<float>& LocalRotated() {
  thread_local std::vector<float> buffer;
  return buffer;
}

}  // namespace

int64_t E8PLinear::RowBytes(int cols, int bits) {
  QUIP_ASSERT(cols > 0 && bits >= 2 && bits <= 4);
  return int64_t(E8PGroups(cols)) * bits;  // 2, 3 or 4 bytes per group of 8
}

E8PLinear::E8PLinear(int rows, int cols, int bits, const uint8_t* packed, std::vector<float> stage_scale,
                     std::vector<float> rescale, bool incoherent, RotationKind rotation, uint64_t seed_u,
                     uint64_t seed_v)
    : Linear(rows, cols),
      bits_(bits),
      packed_(packed),
      stage_scale_(std::move(stage_scale)),
      rescale_(std::move(rescale)),
      incoherent_(incoherent),
      rotation_(rotation),
      seed_u_(seed_u),
      seed_v_(seed_v) {
  Init();
}

E8PLinear::E8PLinear(const QuantizedMatrix& q)
    : Linear(q.rows, q.cols),
      bits_(q.bits),
      packed_(nullptr),
      stage_scale_(q.stage_scale),
      rescale_(q.rescale),
      incoherent_(q.incoherent),
      rotation_(q.rotation),
      seed_u_(q.seed_u),
      seed_v_(q.seed_v) {
  QUIP_ASSERT(q.codebook == Codebook::kE8P);
  const int ng = E8PGroups(q.cols), stages = E8PStages(q.bits);
  QUIP_ASSERT(q.group_codes.size() == size_t(q.rows) * ng * stages);
  const int64_t rb = RowBytes(q.cols, q.bits);
  owned_.assign(size_t(q.rows) * rb, 0);
  for (int r = 0; r < q.rows; ++r) {
    uint8_t* row = owned_.data() + r * rb;
    const uint32_t* codes = q.group_codes.data() + size_t(r) * ng * stages;
    for (int j = 0; j < ng; ++j) {
      row[2 * j] = uint8_t(codes[j * stages] & 0xFF);
      row[2 * j + 1] = uint8_t(codes[j * stages] >> 8);
      if (q.bits == 3) row[2 * ng + j] = uint8_t(codes[j * stages + 1]);
      if (q.bits == 4) {
        row[2 * ng + 2 * j] = uint8_t(codes[j * stages + 1] & 0xFF);
        row[2 * ng + 2 * j + 1] = uint8_t(codes[j * stages + 1] >> 8);
      }
    }
  }
  packed_ = owned_.data();
  Init();
}

void E8PLinear::Init() {
  QUIP_CHECK_INPUT(stage_scale_.size() == size_t(E8PStages(bits_)), "e8p layer", "{} bits need {} scale(s), got {}",
                   bits_, E8PStages(bits_), stage_scale_.size());
  row_bytes_ = RowBytes(in_features(), bits_);
  padded_cols_ = E8PGroups(in_features()) * kE8PGroup;
  if (!rescale_.empty()) {
    inv_rescale_.resize(rescale_.size());
    for (size_t i = 0; i < rescale_.size(); ++i) inv_rescale_[i] = 1.0f / rescale_[i];
  }
  if (incoherent_) {
    u_.emplace(rotation_, out_features(), seed_u_);
    v_.emplace(rotation_, in_features(), seed_v_);
  }
  DecodeTables();  // build once, outside any timed region
}

int64_t E8PLinear::WeightBytes() const {
  return int64_t(out_features()) * row_bytes_ + int64_t(stage_scale_.size() + rescale_.size()) * 4;
}

std::string E8PLinear::Format() const { return "e8p-" + std::to_string(bits_) + "bit"; }

const float* E8PLinear::RotateInput(const float* x, int ntok) const {
  const int n = in_features(), stride = padded_cols_;
  std::vector<float>& xr = LocalRotated();
  xr.assign(size_t(ntok) * stride, 0.0f);  // padding columns stay zero
  for (int t = 0; t < ntok; ++t) {
    float* row = xr.data() + size_t(t) * stride;
    std::memcpy(row, x + size_t(t) * n, sizeof(float) * n);
    if (!inv_rescale_.empty())
      for (int c = 0; c < n; ++c) row[c] *= inv_rescale_[c];
    if (incoherent_) v_->Apply(row, 1);
  }
  return xr.data();
}

float E8PLinear::RowDot(int r, const float* x) const {
  const Tables& t = DecodeTables();
  const int ng = padded_cols_ / kE8PGroup;
  const uint8_t* row = packed_ + r * row_bytes_;
  Vec8 first = {}, second = {};
  for (int j = 0; j < ng; ++j) first += Quarters(t, Load16(row + 2 * j)) * Load8(x + 8 * j);
  if (bits_ == 3)
    for (int j = 0; j < ng; ++j) second += Load8(t.one_bit[row[2 * ng + j]]) * Load8(x + 8 * j);
  if (bits_ == 4)
    for (int j = 0; j < ng; ++j) second += Quarters(t, Load16(row + 2 * ng + 2 * j)) * Load8(x + 8 * j);
  const float y1 = 0.25f * stage_scale_[0] * LaneSum(first);
  if (bits_ == 2) return y1;
  return y1 + (bits_ == 4 ? 0.25f : 1.0f) * stage_scale_[1] * LaneSum(second);
}

void E8PLinear::DecodeRow(int r, float* out) const {
  const Tables& t = DecodeTables();
  const int ng = padded_cols_ / kE8PGroup;
  const uint8_t* row = packed_ + r * row_bytes_;
  const float s1 = 0.25f * stage_scale_[0];
  for (int j = 0; j < ng; ++j) {
    Vec8 w = s1 * Quarters(t, Load16(row + 2 * j));
    if (bits_ == 3) w += stage_scale_[1] * Load8(t.one_bit[row[2 * ng + j]]);
    if (bits_ == 4) w += (0.25f * stage_scale_[1]) * Quarters(t, Load16(row + 2 * ng + 2 * j));
    std::memcpy(out + 8 * j, &w, sizeof(w));
  }
}

void E8PLinear::Forward(const float* x, int ntok, float* y) const {
  const int rows = out_features(), cols = padded_cols_;
  const float* xr = RotateInput(x, ntok);
  if (ntok <= kDecodeBatch) {
    const int64_t tasks = (rows + kRowsPerTask - 1) / kRowsPerTask;
    ThreadPool::Global().Run(tasks, [&](int64_t task) {
      const int r_end = std::min<int>(rows, int(task + 1) * kRowsPerTask);
      for (int r = int(task) * kRowsPerTask; r < r_end; ++r)
        for (int t = 0; t < ntok; ++t) y[size_t(t) * rows + r] = RowDot(r, xr + size_t(t) * cols);
    });
  } else {
    // Decoded tiles multiplied with sgemm, tiles in parallel (kernels/dense_matmul.h).
    kernels::TiledMatmul(xr, ntok, rows, cols, y, [&](int r0, int nr, float* tile) {
      for (int r = 0; r < nr; ++r) DecodeRow(r0 + r, tile + size_t(r) * cols);
    });
  }
  if (incoherent_) u_->ApplyTransposed(y, ntok);
}

void E8PLinear::ForwardReference(const float* x, int ntok, float* y) const {
  const int rows = out_features(), cols = padded_cols_, ng = cols / kE8PGroup;
  const float* xr = RotateInput(x, ntok);
  std::vector<double> w(cols), p(8);
  for (int r = 0; r < rows; ++r) {
    const uint8_t* row = packed_ + r * row_bytes_;
    for (int j = 0; j < ng; ++j) {
      e8p::Decode(Load16(row + 2 * j), p.data());
      for (int i = 0; i < 8; ++i) w[8 * j + i] = stage_scale_[0] * p[i];
      if (bits_ == 3) {
        const auto& point = E8OneBitCodebook::Points()[row[2 * ng + j]];
        for (int i = 0; i < 8; ++i) w[8 * j + i] += stage_scale_[1] * point[i];
      }
      if (bits_ == 4) {
        e8p::Decode(Load16(row + 2 * ng + 2 * j), p.data());
        for (int i = 0; i < 8; ++i) w[8 * j + i] += stage_scale_[1] * p[i];
      }
    }
    for (int t = 0; t < ntok; ++t) {
      double acc = 0.0;
      for (int c = 0; c < cols; ++c) acc += w[c] * xr[size_t(t) * cols + c];
      y[size_t(t) * rows + r] = float(acc);
    }
  }
  if (incoherent_) u_->ApplyTransposed(y, ntok);
}

}  // namespace quip
