#include "kernels/matmul_reference.h"

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

}  // namespace quip::kernels
