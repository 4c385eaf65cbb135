#include "model/e8p_linear.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "kernels/dense_matmul.h"
#include "kernels/e8p_matvec.h"
#include "model/quantized_linear.h"
#include "quant/block_ldlq.h"
#include "quant/e8p.h"

namespace quip {
namespace {

uint16_t Load16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }

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
    fast_u_.emplace(*u_);
    fast_v_.emplace(*v_);
  }
}

int64_t E8PLinear::WeightBytes() const {
  return int64_t(out_features()) * row_bytes_ + int64_t(stage_scale_.size() + rescale_.size()) * 4;
}

std::string E8PLinear::Format() const { return "e8p-" + std::to_string(bits_) + "bit"; }

const float* E8PLinear::RotateInput(const float* x, int ntok, bool fast) const {
  const int n = in_features(), stride = padded_cols_;
  std::vector<float>& xr = LocalRotated();
  xr.assign(size_t(ntok) * stride, 0.0f);  // padding columns stay zero
  for (int t = 0; t < ntok; ++t) {
    float* row = xr.data() + size_t(t) * stride;
    std::memcpy(row, x + size_t(t) * n, sizeof(float) * n);
    if (!inv_rescale_.empty())
      for (int c = 0; c < n; ++c) row[c] *= inv_rescale_[c];
  }
  if (!incoherent_) return xr.data();
  if (!fast) {
    for (int t = 0; t < ntok; ++t) v_->Apply(xr.data() + size_t(t) * stride, 1);
  } else if (stride == n) {
    fast_v_->Apply(xr.data(), ntok);  // all tokens at once, spread over the pool
  } else {
    for (int t = 0; t < ntok; ++t) fast_v_->Apply(xr.data() + size_t(t) * stride, 1);
  }
  return xr.data();
}

kernels::E8PMatrixView E8PLinear::View() const {
  kernels::E8PMatrixView w;
  w.rows = out_features();
  w.groups = padded_cols_ / kE8PGroup;
  w.bits = bits_;
  w.row_bytes = row_bytes_;
  w.codes = packed_;
  for (size_t s = 0; s < stage_scale_.size(); ++s) w.stage_scale[s] = stage_scale_[s];
  return w;
}

void E8PLinear::Forward(const float* x, int ntok, float* y) const {
  // QUIP_KERNEL=ref selects the reference path for every quantized format.
  if (QuantizedLinear::Kernel() == QuantKernel::kReference) return ForwardReference(x, ntok, y);
  const int rows = out_features(), cols = padded_cols_;
  const float* xr = RotateInput(x, ntok, /*fast=*/true);
  const kernels::E8PMatrixView w = View();
  if (ntok == 1) {
    kernels::E8PMatvec(w, xr, y);  // decoding: codes decoded in registers, int8 activations
  } else {
    // Decoded tiles multiplied with sgemm, tiles in parallel (kernels/dense_matmul.h):
    // exact float, so perplexity does not depend on the activation rounding.
    kernels::TiledMatmul(xr, ntok, rows, cols, y, [&](int r0, int nr, float* tile) {
      for (int r = 0; r < nr; ++r) kernels::E8PDecodeRow(w, r0 + r, tile + size_t(r) * cols);
    });
  }
  if (incoherent_) fast_u_->ApplyTransposed(y, ntok);
}

void E8PLinear::ForwardReference(const float* x, int ntok, float* y) const {
  const int rows = out_features(), cols = padded_cols_, ng = cols / kE8PGroup;
  const float* xr = RotateInput(x, ntok, /*fast=*/false);
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
