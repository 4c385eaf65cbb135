// A linear layer stored as b-bit integer codes in QuIP's incoherent basis.
// Algorithm 2 (post-processing) is folded into inference, the weights are never
// materialised for the whole layer:
//   x' = V (x / rescale)            Kronecker transform of the activations, O(n(p+q)),
//                                   or randomized Hadamard, O(n log n) (quant/rotation.h)
//   z  = G x'                       G[r][c] = row_scale[r] * (code[r][c] - row_zero[r])
//   y  = U^T z
// See src/quant/quantized_matrix.h for the meaning of every field.
//
// G x' runs on src/kernels: for up to kFusedMaxTokens tokens (decoding) the fused SIMD
// matvec reads the packed codes once and never materialises fp32 weights; for more
// (prompt evaluation, perplexity) row tiles are dequantized and multiplied with sgemm.
// The reference path (scalar unpack, 64-row tiles, sgemm) is the pre-kernel code,
// kept for tests and selectable at run time: QUIP_KERNEL=ref in the environment, or
// QuantizedLinear::SetKernel.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "kernels/rotation.h"
#include "quant/rotation.h"
#include "model/linear.h"
#include "quant/kronecker.h"
#include "quant/quantized_matrix.h"

namespace quip {

enum class QuantKernel { kFast, kReference };

// Time spent in QuantizedLinear::Forward (all threads' calls summed), when enabled:
// how much of a token goes to the Kronecker rotations versus the matrix product.
struct QuantizedLinearProfile {
  int64_t calls = 0;
  double rotate_seconds = 0;  // x/rescale, V x', U^T z
  double matmul_seconds = 0;  // G x'
};

class QuantizedLinear final : public Linear {
 public:
  // Up to this many tokens use the fused matvec; more use dequantized tiles + sgemm.
  static constexpr int kFusedMaxTokens = 16;

  // Process-wide kernel choice (default: kFast unless QUIP_KERNEL=ref).
  static void SetKernel(QuantKernel kernel);
  static QuantKernel Kernel();
  static void EnableProfiling(bool on);
  static QuantizedLinearProfile Profile();
  static void ResetProfile();

  // `packed` holds rows * PackedBytes(cols, bits) bytes (each row starts on a byte);
  // it is borrowed (e.g. from a memory map kept alive by the Model).
  QuantizedLinear(int rows, int cols, int bits, const uint8_t* packed, std::vector<float> row_scale,
                  std::vector<float> row_zero, std::vector<float> rescale, bool incoherent, uint64_t seed_u,
                  uint64_t seed_v, RotationKind rotation = RotationKind::kKron);
  // Packs and owns the codes of a freshly quantized matrix.
  explicit QuantizedLinear(const QuantizedMatrix& q);

  void Forward(const float* x, int ntok, float* y) const override;
  void ForwardReference(const float* x, int ntok, float* y) const;
  int64_t WeightBytes() const override;
  std::string Format() const override;

  int bits() const { return bits_; }
  bool incoherent() const { return incoherent_; }
  RotationKind rotation() const { return rotation_; }
  uint64_t seed_u() const { return seed_u_; }
  uint64_t seed_v() const { return seed_v_; }
  const uint8_t* packed() const { return packed_; }
  int64_t row_bytes() const { return row_bytes_; }
  const std::vector<float>& row_scale() const { return row_scale_; }
  const std::vector<float>& row_zero() const { return row_zero_; }
  const std::vector<float>& rescale() const { return rescale_; }

 private:
  void Init();
  void ForwardFast(const float* x, int ntok, float* y) const;

  int bits_;
  int64_t row_bytes_;
  std::vector<uint8_t> owned_;  // packed codes when not borrowed
  const uint8_t* packed_;
  std::vector<float> row_scale_, row_zero_, rescale_, inv_rescale_;
  bool incoherent_;
  RotationKind rotation_;
  uint64_t seed_u_, seed_v_;
  std::optional<Rotation> u_, v_;                         // reference path
  std::optional<kernels::FastRotation> fast_u_, fast_v_;  // fast path
};

}  // namespace quip
