#include "format/vector_codebook.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "format/e8p.h"

namespace quip {

// ---- codebooks ----

void VectorCodebook::RoundMany(const double* in, double* out, uint32_t* idx, int64_t idx_stride, int64_t count) const {
  const int g = dim();
  for (int64_t r = 0; r < count; ++r) Round(in + r * g, out + r * g, idx + r * idx_stride);
}

double ScalarGridCodebook::bits_per_weight() const { return std::log2(double(maxq_) + 1.0); }

void ScalarGridCodebook::Round(const double* in, double* out, uint32_t* idx) const {
  const double q = std::min(std::max(std::nearbyint(in[0]), 0.0), double(maxq_));
  out[0] = q;
  idx[0] = static_cast<uint32_t>(q);
}

void ScalarGridCodebook::Decode(const uint32_t* idx, double* out) const { out[0] = double(idx[0]); }

void E8PCodebook::Round(const double* in, double* out, uint32_t* idx) const {
  double y[8], q[8];
  for (int i = 0; i < 8; ++i) y[i] = in[i] / scale_;
  idx[0] = e8p::Nearest(y, q);
  for (int i = 0; i < 8; ++i) out[i] = scale_ * q[i];
}

void E8PCodebook::RoundMany(const double* in, double* out, uint32_t* idx, int64_t idx_stride, int64_t count) const {
  std::vector<double> y(size_t(count) * 8);
  for (size_t i = 0; i < y.size(); ++i) y[i] = in[i] / scale_;  // as Round
  std::vector<uint16_t> nearest(count);
  e8p::NearestBatch(y.data(), count, nearest.data());
  for (int64_t r = 0; r < count; ++r) {
    double q[8];
    idx[r * idx_stride] = nearest[r];
    e8p::Decode(nearest[r], q);
    for (int i = 0; i < 8; ++i) out[r * 8 + i] = scale_ * q[i];
  }
}

void E8PCodebook::Decode(const uint32_t* idx, double* out) const {
  double q[8];
  e8p::Decode(static_cast<uint16_t>(idx[0]), q);
  for (int i = 0; i < 8; ++i) out[i] = scale_ * q[i];
}

void SignCodebook::Round(const double* in, double* out, uint32_t* idx) const {
  uint32_t bits = 0;
  for (int i = 0; i < 8; ++i) {
    if (in[i] < 0) bits |= 1u << i;
    out[i] = in[i] < 0 ? -scale_ : scale_;
  }
  idx[0] = bits;
}

void SignCodebook::Decode(const uint32_t* idx, double* out) const {
  for (int i = 0; i < 8; ++i) out[i] = (idx[0] >> i) & 1 ? -scale_ : scale_;
}

E8OneBitCodebook::E8OneBitCodebook(double scale) : scale_(scale) {}

const std::vector<std::array<double, 8>>& E8OneBitCodebook::Points() {
  static const std::vector<std::array<double, 8>> pts = [] {
    std::vector<std::array<double, 8>> p;
    for (int i = 0; i < 8; ++i)
      for (int j = i + 1; j < 8; ++j)
        for (double si : {-0.5, 0.5})
          for (double sj : {-0.5, 0.5}) {
            std::array<double, 8> v{};
            v[i] = si, v[j] = sj;
            p.push_back(v);
          }
    for (int mask = 0; mask < 256; ++mask) {
      if (__builtin_popcount(unsigned(mask)) % 2) continue;
      std::array<double, 8> v;
      for (int i = 0; i < 8; ++i) v[i] = (mask >> i) & 1 ? -0.25 : 0.25;
      p.push_back(v);
    }
    for (int i = 0; i < 8; ++i)
      for (double s : {-1.0, 1.0}) {
        std::array<double, 8> v{};
        v[i] = s;
        p.push_back(v);
      }
    QUIP_ASSERT(p.size() == 256);
    std::sort(p.begin(), p.end());
    return p;
  }();
  return pts;
}

void E8OneBitCodebook::Round(const double* in, double* out, uint32_t* idx) const {
  const auto& pts = Points();
  double y[8], best = 1e300;
  for (int i = 0; i < 8; ++i) y[i] = in[i] / scale_;
  int best_p = 0;
  for (int p = 0; p < 256; ++p) {
    double d = 0;
    for (int i = 0; i < 8; ++i) d += (y[i] - pts[p][i]) * (y[i] - pts[p][i]);
    if (d < best) best = d, best_p = p;
  }
  idx[0] = uint32_t(best_p);
  for (int i = 0; i < 8; ++i) out[i] = scale_ * pts[best_p][i];
}

void E8OneBitCodebook::Decode(const uint32_t* idx, double* out) const {
  const auto& p = Points()[idx[0] & 0xFF];
  for (int i = 0; i < 8; ++i) out[i] = scale_ * p[i];
}

RvqCodebook::RvqCodebook(std::vector<std::unique_ptr<VectorCodebook>> stages) : stages_(std::move(stages)) {
  QUIP_ASSERT(!stages_.empty());
  for (const auto& s : stages_) {
    QUIP_ASSERT(s->dim() == stages_[0]->dim());
    cpg_ += s->codes_per_group();
  }
}

double RvqCodebook::bits_per_weight() const {
  double b = 0;
  for (const auto& s : stages_) b += s->bits_per_weight();
  return b;
}

void RvqCodebook::Round(const double* in, double* out, uint32_t* idx) const {
  const int g = dim();
  std::vector<double> r(in, in + g), o(g);
  std::fill(out, out + g, 0.0);
  for (const auto& s : stages_) {
    s->Round(r.data(), o.data(), idx);
    idx += s->codes_per_group();
    for (int i = 0; i < g; ++i) {
      out[i] += o[i];
      r[i] -= o[i];
    }
  }
}

// Round's stages, each over all groups at once (the same additions per element).
void RvqCodebook::RoundMany(const double* in, double* out, uint32_t* idx, int64_t idx_stride, int64_t count) const {
  const size_t n = size_t(count) * dim();
  std::vector<double> r(in, in + n), o(n);
  std::fill(out, out + n, 0.0);
  for (const auto& s : stages_) {
    s->RoundMany(r.data(), o.data(), idx, idx_stride, count);
    idx += s->codes_per_group();
    for (size_t i = 0; i < n; ++i) {
      out[i] += o[i];
      r[i] -= o[i];
    }
  }
}

void RvqCodebook::Decode(const uint32_t* idx, double* out) const {
  const int g = dim();
  std::vector<double> o(g);
  std::fill(out, out + g, 0.0);
  for (const auto& s : stages_) {
    s->Decode(idx, o.data());
    idx += s->codes_per_group();
    for (int i = 0; i < g; ++i) out[i] += o[i];
  }
}

}  // namespace quip
