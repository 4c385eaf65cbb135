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

void DequantizedQ8Activations(const float* x, int cols, float* x_hat) {
  constexpr int kGroup = 256;
  for (int c0 = 0; c0 < cols; c0 += kGroup) {
    const int c1 = std::min(cols, c0 + kGroup);
    float amax = 0.0f;
    bool finite = true;
    for (int c = c0; c < c1; ++c) {
      finite = finite && std::isfinite(x[c]);
      amax = std::max(amax, std::fabs(x[c]));
    }
    const float step = finite ? amax / 127.0f : NAN;
    const float inv = finite && amax > 0.0f ? 127.0f / amax : 0.0f;
    for (int c = c0; c < c1; ++c) {
      const float q = std::clamp(std::nearbyint(x[c] * inv), -127.0f, 127.0f);
      x_hat[c] = float(double(step) * q);
    }
  }
}

}  // namespace quip::kernels
