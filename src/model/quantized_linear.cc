#include "model/quantized_linear.h"

#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"
#include "kernels/quant_matmul.h"
#include "quant/packing.h"

namespace quip {
namespace {
// Rows dequantized per BLAS call: small enough to stay in L2 (64 x 4096 floats = 1 MiB).
constexpr int kTileRows = 64;

std::atomic<QuantKernel>& KernelChoice() {
  static std::atomic<QuantKernel> choice{[] {
    const char* env = std::getenv("QUIP_KERNEL");
    return env && std::string(env) == "ref" ? QuantKernel::kReference : QuantKernel::kFast;
  }()};
  return choice;
}

std::atomic<bool> g_profiling{false};
std::atomic<int64_t> g_profile_calls{0}, g_rotate_ns{0}, g_matmul_ns{0};

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Rotated activations, reused across calls (one per thread: Forward may run concurrently).
std::vector<float>& LocalActivations() {
  thread_local std::vector<float> xt;
  return xt;
}
}  // namespace

void QuantizedLinear::SetKernel(QuantKernel kernel) { KernelChoice() = kernel; }
QuantKernel QuantizedLinear::Kernel() { return KernelChoice(); }
void QuantizedLinear::EnableProfiling(bool on) { g_profiling = on; }
void QuantizedLinear::ResetProfile() {
  g_profile_calls = 0;
  g_rotate_ns = 0;
  g_matmul_ns = 0;
}
QuantizedLinearProfile QuantizedLinear::Profile() {
  return {g_profile_calls.load(), double(g_rotate_ns.load()) * 1e-9, double(g_matmul_ns.load()) * 1e-9};
}

QuantizedLinear::QuantizedLinear(int rows, int cols, int bits, const uint8_t* packed, std::vector<float> row_scale,
                                 std::vector<float> row_zero, std::vector<float> rescale, bool incoherent,
                                 uint64_t seed_u, uint64_t seed_v, RotationKind rotation)
    : Linear(rows, cols),
      bits_(bits),
      row_bytes_(PackedBytes(cols, bits)),
      packed_(packed),
      row_scale_(std::move(row_scale)),
      row_zero_(std::move(row_zero)),
      rescale_(std::move(rescale)),
      incoherent_(incoherent),
      rotation_(rotation),
      seed_u_(seed_u),
      seed_v_(seed_v) {
  Init();
}

QuantizedLinear::QuantizedLinear(const QuantizedMatrix& q)
    : Linear(q.rows, q.cols),
      bits_(q.bits),
      row_bytes_(PackedBytes(q.cols, q.bits)),
      packed_(nullptr),
      row_scale_(q.row_scale),
      row_zero_(q.row_zero),
      rescale_(q.rescale),
      incoherent_(q.incoherent),
      rotation_(q.rotation),
      seed_u_(q.seed_u),
      seed_v_(q.seed_v) {
  owned_.resize(size_t(q.rows) * row_bytes_);
  for (int r = 0; r < q.rows; ++r) {
    const std::vector<uint8_t> row = PackCodes(&q.codes[size_t(r) * q.cols], q.cols, q.bits);
    std::copy(row.begin(), row.end(), owned_.begin() + size_t(r) * row_bytes_);
  }
  packed_ = owned_.data();
  Init();
}

void QuantizedLinear::Init() {
  QUIP_ASSERT(bits_ >= 1 && bits_ <= 8);
  QUIP_ASSERT(int(row_scale_.size()) == out_features() && int(row_zero_.size()) == out_features());
  QUIP_ASSERT(rescale_.empty() || int(rescale_.size()) == in_features());
  inv_rescale_.resize(rescale_.size());
  for (size_t i = 0; i < rescale_.size(); ++i) inv_rescale_[i] = 1.0f / rescale_[i];
  if (incoherent_) {
    u_.emplace(rotation_, out_features(), seed_u_);
    v_.emplace(rotation_, in_features(), seed_v_);
    fast_u_.emplace(*u_);
    fast_v_.emplace(*v_);
  }
}

void QuantizedLinear::Forward(const float* x, int ntok, float* y) const {
  if (Kernel() == QuantKernel::kReference) {
    ForwardReference(x, ntok, y);
  } else {
    ForwardFast(x, ntok, y);
  }
}

void QuantizedLinear::ForwardFast(const float* x, int ntok, float* y) const {
  const int rows = out_features(), cols = in_features();
  const bool profile = g_profiling.load(std::memory_order_relaxed);
  const int64_t t0 = profile ? NowNs() : 0;
  // x' = V (x / rescale)
  std::vector<float>& xt = LocalActivations();
  xt.resize(size_t(ntok) * cols);
  if (!inv_rescale_.empty()) {
    for (int t = 0; t < ntok; ++t) {
      const float* src = x + size_t(t) * cols;
      float* dst = &xt[size_t(t) * cols];
      for (int c = 0; c < cols; ++c) dst[c] = src[c] * inv_rescale_[c];
    }
  } else {
    std::memcpy(xt.data(), x, xt.size() * sizeof(float));
  }
  if (fast_v_) fast_v_->Apply(xt.data(), ntok);
  const int64_t t1 = profile ? NowNs() : 0;

  // z = G x'
  const kernels::PackedMatrixView w{rows, cols, bits_, row_bytes_, packed_, row_scale_.data(), row_zero_.data()};
  if (ntok <= kFusedMaxTokens) {
    kernels::QuantMatmul(w, xt.data(), ntok, y);
  } else {
    kernels::QuantGemm(w, xt.data(), ntok, y);
  }
  const int64_t t2 = profile ? NowNs() : 0;

  // y = U^T z
  if (fast_u_) fast_u_->ApplyTransposed(y, ntok);
  if (profile) {
    const int64_t t3 = NowNs();
    g_profile_calls.fetch_add(1, std::memory_order_relaxed);
    g_rotate_ns.fetch_add((t1 - t0) + (t3 - t2), std::memory_order_relaxed);
    g_matmul_ns.fetch_add(t2 - t1, std::memory_order_relaxed);
  }
}

void QuantizedLinear::ForwardReference(const float* x, int ntok, float* y) const {
  const int rows = out_features(), cols = in_features();
  // x' = V (x / rescale)
  std::vector<float> xt(x, x + size_t(ntok) * cols);
  if (!inv_rescale_.empty())
    for (int t = 0; t < ntok; ++t)
      for (int c = 0; c < cols; ++c) xt[size_t(t) * cols + c] *= inv_rescale_[c];
  if (v_) v_->Apply(xt.data(), ntok);

  // y = G x', one dequantized tile of rows at a time.
  std::vector<uint8_t> codes(static_cast<size_t>(cols));
  std::vector<float> tile(size_t(kTileRows) * cols);
  for (int r0 = 0; r0 < rows; r0 += kTileRows) {
    const int nr = std::min(kTileRows, rows - r0);
    for (int r = 0; r < nr; ++r) {
      UnpackCodes(packed_ + size_t(r0 + r) * row_bytes_, cols, bits_, codes.data());
      const float scale = row_scale_[r0 + r], zero = row_zero_[r0 + r];
      float* dst = &tile[size_t(r) * cols];
      for (int c = 0; c < cols; ++c) dst[c] = scale * (float(codes[c]) - zero);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ntok, nr, cols, 1.0f, xt.data(), cols, tile.data(), cols,
                0.0f, y + r0, rows);
  }
  // y = U^T z
  if (u_) u_->ApplyTransposed(y, ntok);
}

int64_t QuantizedLinear::WeightBytes() const {
  // As stored: a grid shared by all rows is one scale and one zero (see io/quip_format.h).
  const bool uniform = std::all_of(row_scale_.begin(), row_scale_.end(), [&](float s) { return s == row_scale_[0]; }) &&
                       std::all_of(row_zero_.begin(), row_zero_.end(), [&](float z) { return z == row_zero_[0]; });
  const int64_t grid_values = uniform ? 2 : 2 * int64_t(out_features());
  return int64_t(out_features()) * row_bytes_ + int64_t(sizeof(float)) * (grid_values + int64_t(rescale_.size()));
}

std::string QuantizedLinear::Format() const {
  if (!incoherent_) return "minmax-" + std::to_string(bits_) + "bit";
  return (rotation_ == RotationKind::kRht ? "quip-rht-" : "quip-") + std::to_string(bits_) + "bit";
}

}  // namespace quip
