// A linear layer stored with QuIP#'s E8P lattice codebook (quant/quantized_matrix.h,
// "e8p"): 16-bit indices for groups of 8 weights, plus a residual stage at 3/4 bits.
//   x' = V (x / rescale)     rotation of the activations (Kronecker or Hadamard)
//   z  = G x'                one token: kernels/e8p_matvec.h decodes the groups in
//                            registers (int8 activations); several tokens: decoded fp32
//                            tiles and sgemm. Never materialised for the whole layer.
//   y  = Uᵀ z
//
// Packed row layout (frozen, it is the `.codes` tensor of quip_format.h): for a row of
// cols weights in ng = ⌈cols/8⌉ groups (quant/quantized_matrix.h), first the ng stage-1
// indices as little-endian uint16, then the stage-2 codes: at 3 bits ng bytes (indices
// into the 256-point one-bit E8 codebook, quant/block_ldlq.h), at 4 bits ng more uint16
// E8P indices. Row bytes: 2·ng, 3·ng, 4·ng at 2, 3, 4 bits.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "model/linear.h"
#include "quant/quantized_matrix.h"
#include "kernels/e8p_matvec.h"
#include "kernels/rotation.h"
#include "quant/rotation.h"

namespace quip {

class E8PLinear final : public Linear {
 public:
  // `packed` holds rows · RowBytes(cols, bits) bytes, borrowed (e.g. from a memory map
  // kept alive by the Model).
  E8PLinear(int rows, int cols, int bits, const uint8_t* packed, std::vector<float> stage_scale,
            std::vector<float> rescale, bool incoherent, RotationKind rotation, uint64_t seed_u, uint64_t seed_v);
  // Packs and owns the codes of a freshly quantized matrix (codebook e8p).
  explicit E8PLinear(const QuantizedMatrix& q);

  static int64_t RowBytes(int cols, int bits);

  void Forward(const float* x, int ntok, float* y) const override;
  int64_t WeightBytes() const override;
  std::string Format() const override;

  // The same product decoding each group with e8p::Decode in double (tests' oracle).
  void ForwardReference(const float* x, int ntok, float* y) const;

  int bits() const { return bits_; }
  bool incoherent() const { return incoherent_; }
  RotationKind rotation() const { return rotation_; }
  uint64_t seed_u() const { return seed_u_; }
  uint64_t seed_v() const { return seed_v_; }
  const uint8_t* packed() const { return packed_; }
  int64_t row_bytes() const { return row_bytes_; }
  const std::vector<float>& stage_scale() const { return stage_scale_; }
  const std::vector<float>& rescale() const { return rescale_; }

 private:
  void Init();
  // x' = V (x / rescale) for ntok rows, into a per-thread buffer.
  const float* RotateInput(const float* x, int ntok, bool fast) const;
  kernels::E8PMatrixView View() const;

  int bits_;
  int64_t row_bytes_;
  int padded_cols_;  // in_features rounded up to whole groups of 8
  std::vector<uint8_t> owned_;
  const uint8_t* packed_;
  std::vector<float> stage_scale_, rescale_, inv_rescale_;
  bool incoherent_;
  RotationKind rotation_;
  uint64_t seed_u_, seed_v_;
  std::optional<Rotation> u_, v_;                         // reference path
  std::optional<kernels::FastRotation> fast_u_, fast_v_;  // fast path
};

}  // namespace quip
