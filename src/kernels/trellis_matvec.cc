#include "kernels/trellis_matvec.h"

#include <cstring>

#include "core/error.h"
#include "core/thread_pool.h"
#include "format/trellis_tiles.h"

namespace quip::kernels {
namespace {

using trellis::kTileSide;
using trellis::kTileWeights;

// Tile (i, j) decoded into 256 row-major weights.
void DecodeTile(const TrellisMatrixView& w, int i, int j, float* weights) {
  const int words = trellis::TileWords(w.bits);
  uint32_t stream[trellis::TileWords(4)];
  std::memcpy(stream, w.codes + (size_t(i) * (w.cols / kTileSide) + j) * words * 4, size_t(words) * 4);
  trellis::DecodeTileReference(stream, w.bits, w.code, w.hyb_table, w.scale, weights);
}

void CheckView(const TrellisMatrixView& w) {
  QUIP_ASSERT(w.rows % kTileSide == 0 && w.cols % kTileSide == 0 && w.bits >= 2 && w.bits <= 4);
  QUIP_ASSERT(w.code != trellis::Code::kHyb || w.hyb_table != nullptr);
}

}  // namespace

void TrellisMatvec(const TrellisMatrixView& w, const float* x, float* y) {
  CheckView(w);
  ThreadPool::Global().Run(w.rows / kTileSide, [&](int64_t i) {
    float acc[kTileSide] = {};
    float tile[kTileWeights];
    for (int j = 0; j < w.cols / kTileSide; ++j) {
      DecodeTile(w, int(i), j, tile);
      for (int r = 0; r < kTileSide; ++r)
        for (int c = 0; c < kTileSide; ++c) acc[r] += tile[r * kTileSide + c] * x[j * kTileSide + c];
    }
    std::memcpy(y + i * kTileSide, acc, sizeof(acc));
  });
}

void TrellisDecodeRowBlocks(const TrellisMatrixView& w, int b0, int nb, float* out) {
  CheckView(w);
  float tile[kTileWeights];
  for (int i = b0; i < b0 + nb; ++i)
    for (int j = 0; j < w.cols / kTileSide; ++j) {
      DecodeTile(w, i, j, tile);
      for (int r = 0; r < kTileSide; ++r)
        std::memcpy(out + (size_t(i - b0) * kTileSide + r) * w.cols + j * kTileSide, tile + r * kTileSide,
                    sizeof(float) * kTileSide);
    }
}

}  // namespace quip::kernels
