#include "kernels/matmul_reference.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace quip::kernels {

int ReferenceCode(const uint8_t* row, int64_t c, int bits) {
  int code = 0;
  for (int b = 0; b < bits; ++b) {
    const int64_t bit = c * bits + b;
    code |= ((row[bit / 8] >> (bit % 8)) & 1) << b;
  }
  return code;
}

void QuantMatmulReference(const PackedMatrixView& w, const float* x, int ntok, float* y) {
  for (int t = 0; t < ntok; ++t) {
    const float* xt = x + int64_t(t) * w.cols;
    for (int r = 0; r < w.rows; ++r) {
      const uint8_t* row = w.codes + int64_t(r) * w.row_bytes;
      double sum = 0.0;
      for (int c = 0; c < w.cols; ++c) sum += (double(ReferenceCode(row, c, w.bits)) - w.row_zero[r]) * xt[c];
      y[int64_t(t) * w.rows + r] = float(double(w.row_scale[r]) * sum);
    }
  }
}

Q8RoundedActivations DequantizedQ8Activations(const float* x, int cols) {
  constexpr int kGroup = 256;
  Q8RoundedActivations out{std::vector<double>(cols), std::vector<double>(cols, 0.0)};
  for (int c0 = 0; c0 < cols; c0 += kGroup) {
    const int c1 = std::min(cols, c0 + kGroup);
    double amax = 0.0;
    bool finite = true;
    for (int c = c0; c < c1; ++c) {
      finite = finite && std::isfinite(x[c]);
      amax = std::max(amax, std::fabs(double(x[c])));
    }
    if (!finite) {
      std::fill(out.x_hat.begin() + c0, out.x_hat.begin() + c1, NAN);
      continue;
    }
    const double step = amax / 127.0;
    for (int c = c0; c < c1; ++c) {
      if (amax == 0.0) continue;  // x̂ = 0
      const double v = double(x[c]) / step;  // in [-127, 127]
      const double below = std::floor(v), frac = v - below;
      const bool even_below = std::fmod(below, 2.0) == 0.0;
      const double q = frac > 0.5 ? below + 1 : frac < 0.5 ? below : (even_below ? below : below + 1);
      out.x_hat[c] = step * q;
      if (std::fabs(frac - 0.5) < kQ8TieWindow) out.tie_slack[c] = step;
    }
  }
  return out;
}

}  // namespace quip::kernels
