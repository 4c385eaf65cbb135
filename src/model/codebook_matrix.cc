#include "model/codebook_matrix.h"

#include "core/error.h"
#include "kernels/dense_matmul.h"
#include "model/e8p_matrix.h"
#include "model/scalar_grid_matrix.h"
#include "model/trellis_matrix.h"

namespace quip {

void CodebookMatrix::ProductManyTokens(const float* x, int ntok, float* y) const {
  kernels::TiledMatmul(x, ntok, rows(), padded_cols(), y,
                       [&](int r0, int nr, float* tile) { DecodeRows(r0, nr, tile); });
}

std::unique_ptr<CodebookMatrix> MakeCodebookMatrix(StoredLinear stored) {
  switch (stored.codebook) {
    case Codebook::kScalar: return std::make_unique<ScalarGridMatrix>(std::move(stored));
    case Codebook::kE8P: return std::make_unique<E8PMatrix>(std::move(stored));
    case Codebook::kTrellis: return std::make_unique<TrellisMatrix>(std::move(stored));
  }
  QUIP_ASSERT(false);
  return nullptr;
}

}  // namespace quip
