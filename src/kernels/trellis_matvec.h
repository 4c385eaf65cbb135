// Products with a QTIP trellis matrix (format/trellis_tiles.h has the stored layout):
// y = G·x for one token, and G decoded to fp32 row blocks for prompts (tiles + sgemm).
// G's weights are scale · code(state), the states read from each tile's cyclic bitstream.
#pragma once

#include <cstdint>

#include "format/trellis_codes.h"

namespace quip::kernels {

struct TrellisMatrixView {
  int rows = 0, cols = 0;  // padded to multiples of 16 (trellis::TilePadded)
  int bits = 2;            // K
  trellis::Code code = trellis::Code::k1Mad;
  const float* hyb_table = nullptr;  // 2^9 × 2 values for Code::kHyb
  float scale = 1.0f;
  // (rows/16)·(cols/16) tiles of TileWords(bits) little-endian 32-bit words, row block by
  // row block; not necessarily 4-byte aligned (a memory-mapped tensor).
  const uint8_t* codes = nullptr;
};

// One token: x [cols] → y [rows]; row blocks split over the thread pool.
void TrellisMatvec(const TrellisMatrixView& w, const float* x, float* y);

// Row blocks [b0, b0 + nb) of G as fp32: 16·nb rows of `cols` values, row-major.
void TrellisDecodeRowBlocks(const TrellisMatrixView& w, int b0, int nb, float* out);

}  // namespace quip::kernels
