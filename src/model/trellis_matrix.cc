#include "model/trellis_matrix.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "format/trellis_tiles.h"

namespace quip {

using trellis::kTileSide;

TrellisMatrix::TrellisMatrix(StoredLinear stored) : CodebookMatrix(std::move(stored)) {
  const StoredLinear& s = this->stored();
  QUIP_ASSERT(s.codebook == Codebook::kTrellis && s.bits >= 2 && s.bits <= 4 && s.zero.empty());
  QUIP_CHECK_INPUT(s.scale.size() == 1, "trellis layer", "needs one scale, got {}", s.scale.size());
  QUIP_CHECK_INPUT(s.trellis_code != trellis::Code::kHyb || s.code_table.size() == 2u << trellis::kHybTableBits,
                   "trellis layer", "the hyb code needs a table of {} values, got {}", 2 << trellis::kHybTableBits,
                   s.code_table.size());
}

int TrellisMatrix::padded_cols() const { return trellis::TilePadded(stored().cols); }

kernels::TrellisMatrixView TrellisMatrix::View() const {
  const StoredLinear& s = stored();
  kernels::TrellisMatrixView w;
  w.rows = trellis::TilePadded(s.rows);
  w.cols = padded_cols();
  w.bits = s.bits;
  w.code = s.trellis_code;
  w.hyb_table = s.code_table.empty() ? nullptr : s.code_table.data();
  w.scale = s.scale[0];
  w.codes = s.codes();
  return w;
}

void TrellisMatrix::ProductFewTokens(const float* x, int ntok, float* y) const {
  QUIP_ASSERT(ntok == 1);
  const kernels::TrellisMatrixView w = View();
  if (w.rows == rows()) return kernels::TrellisMatvec(w, x, y);
  thread_local std::vector<float> padded;  // the padding rows' outputs are dropped
  padded.resize(size_t(w.rows));
  kernels::TrellisMatvec(w, x, padded.data());
  std::copy_n(padded.data(), rows(), y);
}

void TrellisMatrix::DecodeRows(int r0, int nr, float* tile) const {
  const kernels::TrellisMatrixView w = View();
  const int b0 = r0 / kTileSide, b1 = (r0 + nr + kTileSide - 1) / kTileSide;
  if (r0 % kTileSide == 0 && nr % kTileSide == 0) return kernels::TrellisDecodeRowBlocks(w, b0, b1 - b0, tile);
  // Rows that do not start or end on a row block: decode the blocks around them.
  std::vector<float> blocks(size_t(b1 - b0) * kTileSide * w.cols);
  kernels::TrellisDecodeRowBlocks(w, b0, b1 - b0, blocks.data());
  std::memcpy(tile, blocks.data() + size_t(r0 - b0 * kTileSide) * w.cols, sizeof(float) * size_t(nr) * w.cols);
}

void TrellisMatrix::ProductReference(const float* x, int ntok, float* y) const {
  const kernels::TrellisMatrixView w = View();
  const int words = trellis::TileWords(w.bits), tiles_per_row = w.cols / kTileSide;
  std::vector<double> g(size_t(w.rows) * w.cols);
  float weights[trellis::kTileWeights];
  uint32_t stream[trellis::TileWords(4)];
  for (int i = 0; i < w.rows / kTileSide; ++i)
    for (int j = 0; j < tiles_per_row; ++j) {
      std::memcpy(stream, w.codes + (size_t(i) * tiles_per_row + j) * words * 4, size_t(words) * 4);
      trellis::DecodeTileReference(stream, w.bits, w.code, w.hyb_table, w.scale, weights);
      for (int e = 0; e < trellis::kTileWeights; ++e)
        g[size_t(i * kTileSide + e / kTileSide) * w.cols + j * kTileSide + e % kTileSide] = weights[e];
    }
  for (int t = 0; t < ntok; ++t)
    for (int r = 0; r < rows(); ++r) {
      double acc = 0.0;
      for (int c = 0; c < w.cols; ++c) acc += g[size_t(r) * w.cols + c] * x[size_t(t) * w.cols + c];
      y[size_t(t) * rows() + r] = float(acc);
    }
}

std::string TrellisMatrix::FormatName() const {
  return std::string("qtip-") + trellis::CodeName(stored().trellis_code) + "-" + std::to_string(stored().bits) + "bit";
}

}  // namespace quip
