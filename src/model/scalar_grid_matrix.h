// The scalar grid (QuIP and the baselines): G[r][c] = scale[r]·(code[r][c] − zero[r]),
// b-bit codes packed as format/packing.h. Kernels: kernels/quant_matmul.h (fused matvec
// for up to 16 tokens, dequantized tiles + sgemm beyond).
#pragma once

#include "kernels/packed_matrix.h"
#include "model/codebook_matrix.h"

namespace quip {

class ScalarGridMatrix final : public CodebookMatrix {
 public:
  static constexpr int kFusedMaxTokens = 16;

  explicit ScalarGridMatrix(StoredLinear stored);
  int fused_max_tokens() const override { return kFusedMaxTokens; }
  void ProductFewTokens(const float* x, int ntok, float* y) const override;
  void ProductManyTokens(const float* x, int ntok, float* y) const override;
  void DecodeRows(int r0, int nr, float* tile) const override;
  void ProductReference(const float* x, int ntok, float* y) const override;
  std::string FormatName() const override;

 private:
  kernels::PackedMatrixView View() const;
};

}  // namespace quip
