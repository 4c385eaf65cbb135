// A dense layer stored in 16 bits (BF16 or F16) and used from the checkpoint's memory map:
// converted to fp32 when it is first used, and the fp32 copy kept until Drop(). Fine-tuning's
// teacher is loaded this way (pipeline/load.h LoadOptions), so that dropping each block after
// it has run (train/teacher_pages.h) holds one block's fp32 copies at a time, not the whole
// model's (docs/finetune.md, Memory). The loader has checked every weight finite. The fp32
// values and the product are a loaded fp32 layer's (the same conversion, DenseLinear's kernel).
// Not for concurrent use: Forward may convert.
#pragma once

#include <vector>

#include "model/linear.h"

namespace quip {

class HalfLinear final : public Linear {
 public:
  // `data`: rows × cols 16-bit values (bfloat16 when `bf16`, else IEEE half), alive as long as
  // this layer (the model's owners keep the mapping).
  HalfLinear(const uint8_t* data, bool bf16, int rows, int cols);
  void Forward(const float* x, int ntok, float* y) const override;
  int64_t WeightBytes() const override { return int64_t(out_features()) * in_features() * 2; }
  std::string Format() const override { return bf16_ ? "bf16" : "f16"; }
  // The fp32 copy, converted now if it is not there; valid until Drop().
  const TensorView* dense_weight() const override;
  // Frees the fp32 copy (the 16-bit pages are dropped from the process once converted:
  // core/mapped_file.h).
  void Drop() const;
  bool converted() const { return !fp32_.empty(); }

 private:
  const uint8_t* data_;
  bool bf16_;
  mutable std::vector<float> fp32_;
  mutable TensorView view_;
};

}  // namespace quip
