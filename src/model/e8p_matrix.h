// QuIP#'s E8P lattice codebook (format/stored_linear.h, "e8p"): 16-bit indices for groups
// of 8 weights, plus at 3/4 bits a second stage (one-bit E8 codebook / E8P again, RVQ).
// Kernels: kernels/e8p_matvec.h (one token: groups decoded in registers, int8
// activations); several tokens: decoded fp32 tiles and sgemm (exact float, so perplexity
// does not depend on the activation rounding).
#pragma once

#include "kernels/e8p_matvec.h"
#include "model/codebook_matrix.h"

namespace quip {

class E8PMatrix final : public CodebookMatrix {
 public:
  explicit E8PMatrix(StoredLinear stored);
  int padded_cols() const override { return E8PGroups(stored().cols) * kE8PGroup; }
  int fused_max_tokens() const override { return 1; }
  void ProductFewTokens(const float* x, int ntok, float* y) const override;
  void DecodeRows(int r0, int nr, float* tile) const override;
  // Each group decoded with e8p::Decode in double.
  void ProductReference(const float* x, int ntok, float* y) const override;
  std::string FormatName() const override;

 private:
  kernels::E8PMatrixView View() const;
};

}  // namespace quip
