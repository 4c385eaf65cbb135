// A linear layer y = W x, W of shape [out_features, in_features] (nn.Linear layout).
// The forward pass only sees this interface, so a quantized layer (packed codes +
// incoherence transforms) runs wherever a dense fp32 one does. One virtual call per
// layer and batch of tokens, never per element.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/tensor.h"

namespace quip {

struct StoredLinear;  // format/stored_linear.h

class Linear {
 public:
  Linear(int out_features, int in_features) : out_(out_features), in_(in_features) {}
  virtual ~Linear() = default;

  int out_features() const { return out_; }
  int in_features() const { return in_; }

  // y[t, :] = W x[t, :] for t in [0, ntok); x is [ntok, in], y is [ntok, out], row-major.
  virtual void Forward(const float* x, int ntok, float* y) const = 0;
  // Bytes of weight data read by one Forward of a single token.
  virtual int64_t WeightBytes() const = 0;
  // Short format name for reports ("f32", "quip-2bit", ...).
  virtual std::string Format() const = 0;
  // What the file format stores for this layer: dense fp32 weights, or quantized codes
  // (exactly one is non-null).
  virtual const TensorView* dense_weight() const { return nullptr; }
  virtual const StoredLinear* stored_linear() const { return nullptr; }

 private:
  int out_;
  int in_;
};

// Dense fp32 weights, used in place (e.g. straight from a memory map).
class DenseLinear final : public Linear {
 public:
  explicit DenseLinear(TensorView weight);
  void Forward(const float* x, int ntok, float* y) const override;
  int64_t WeightBytes() const override { return weight_.numel() * int64_t{sizeof(float)}; }
  std::string Format() const override { return "f32"; }
  const TensorView* dense_weight() const override { return &weight_; }
  const TensorView& weight() const { return weight_; }

 private:
  TensorView weight_;
};

}  // namespace quip
