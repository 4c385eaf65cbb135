// QTIP's trellis codebook (format/stored_linear.h, "trellis"; the tile layout is
// format/trellis_tiles.h): each 16×16 tile of G is one tail-biting path through a
// bitshift trellis whose states' values are computed codes (format/trellis_codes.h).
// Kernels: kernels/trellis_matvec.h (one token: tiles decoded in registers; prompts:
// decoded fp32 row blocks and sgemm).
#pragma once

#include "kernels/trellis_matvec.h"
#include "model/codebook_matrix.h"

namespace quip {

class TrellisMatrix final : public CodebookMatrix {
 public:
  explicit TrellisMatrix(StoredLinear stored);
  int padded_cols() const override;
  int fused_max_tokens() const override { return 1; }
  void ProductFewTokens(const float* x, int ntok, float* y) const override;
  void DecodeRows(int r0, int nr, float* tile) const override;
  // Each tile decoded by trellis::DecodeTileReference, products in double.
  void ProductReference(const float* x, int ntok, float* y) const override;
  std::string FormatName() const override;

 private:
  kernels::TrellisMatrixView View() const;
};

}  // namespace quip
