#include "model/linear.h"

#include <cblas.h>

#include "core/error.h"

namespace quip {

DenseLinear::DenseLinear(TensorView weight)
    : Linear(static_cast<int>(weight.rows()), static_cast<int>(weight.cols())), weight_(std::move(weight)) {
  QUIP_ASSERT(weight_.shape.size() == 2);
}

void DenseLinear::Forward(const float* x, int ntok, float* y) const {
  const int out = out_features(), in = in_features();
  if (ntok == 1) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, weight_.data, in, x, 1, 0.0f, y, 1);
  } else {
    // Y[ntok, out] = X[ntok, in] * W^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ntok, out, in, 1.0f, x, in, weight_.data, in, 0.0f, y,
                out);
  }
}

}  // namespace quip
