#include "model/half_linear.h"

#include "core/half.h"
#include "core/mapped_file.h"
#include "kernels/dense_matmul.h"

namespace quip {

HalfLinear::HalfLinear(const uint8_t* data, bool bf16, int rows, int cols)
    : Linear(rows, cols), data_(data), bf16_(bf16) {}

const TensorView* HalfLinear::dense_weight() const {
  if (fp32_.empty()) {
    fp32_.resize(size_t(out_features()) * in_features());
    HalfToFloats(data_, bf16_, int64_t(fp32_.size()), fp32_.data());
    // Read once: the 16-bit pages need not stay beside their fp32 copy.
    ReleaseMappedPages(data_, fp32_.size() * 2);
    view_ = TensorView{fp32_.data(), {out_features(), in_features()}};
  }
  return &view_;
}

void HalfLinear::Forward(const float* x, int ntok, float* y) const {
  kernels::DenseMatmul(x, ntok, dense_weight()->data, out_features(), in_features(), y);
}

void HalfLinear::Drop() const {
  std::vector<float>().swap(fp32_);  // the memory itself, not only the size
  view_ = TensorView{};
}

}  // namespace quip
