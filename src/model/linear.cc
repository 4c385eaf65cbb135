#include "model/linear.h"

#include "core/error.h"
#include "kernels/dense_matmul.h"

namespace quip {

DenseLinear::DenseLinear(TensorView weight)
    : Linear(static_cast<int>(weight.rows()), static_cast<int>(weight.cols())), weight_(std::move(weight)) {
  QUIP_ASSERT(weight_.shape.size() == 2);
}

void DenseLinear::Forward(const float* x, int ntok, float* y) const {
  kernels::DenseMatmul(x, ntok, weight_.data, out_features(), in_features(), y);
}

}  // namespace quip
