// A linear layer stored as b-bit integer codes in QuIP's incoherent basis.
// Algorithm 2 (post-processing) is folded into inference, the weights are never
// materialised for the whole layer:
//   x' = V (x / rescale)            Kronecker transform of the activations, O(n(p+q))
//   z  = G x'                       G[r][c] = row_scale[r] * (code[r][c] - row_zero[r]),
//                                   dequantized one tile of rows at a time
//   y  = U^T z
// See src/quant/quantized_matrix.h for the meaning of every field.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "model/linear.h"
#include "quant/kronecker.h"
#include "quant/quantized_matrix.h"

namespace quip {

class QuantizedLinear final : public Linear {
 public:
  // `packed` holds rows * PackedBytes(cols, bits) bytes (each row starts on a byte);
  // it is borrowed (e.g. from a memory map kept alive by the Model).
  QuantizedLinear(int rows, int cols, int bits, const uint8_t* packed, std::vector<float> row_scale,
                  std::vector<float> row_zero, std::vector<float> rescale, bool incoherent, uint64_t seed_u,
                  uint64_t seed_v);
  // Packs and owns the codes of a freshly quantized matrix.
  explicit QuantizedLinear(const QuantizedMatrix& q);

  void Forward(const float* x, int ntok, float* y) const override;
  int64_t WeightBytes() const override;
  std::string Format() const override;

  int bits() const { return bits_; }
  bool incoherent() const { return incoherent_; }
  uint64_t seed_u() const { return seed_u_; }
  uint64_t seed_v() const { return seed_v_; }
  const uint8_t* packed() const { return packed_; }
  int64_t row_bytes() const { return row_bytes_; }
  const std::vector<float>& row_scale() const { return row_scale_; }
  const std::vector<float>& row_zero() const { return row_zero_; }
  const std::vector<float>& rescale() const { return rescale_; }

 private:
  void Init();

  int bits_;
  int64_t row_bytes_;
  std::vector<uint8_t> owned_;  // packed codes when not borrowed
  const uint8_t* packed_;
  std::vector<float> row_scale_, row_zero_, rescale_, inv_rescale_;
  bool incoherent_;
  uint64_t seed_u_, seed_v_;
  std::optional<KroneckerTransform> u_, v_;
};

}  // namespace quip
