// Per-CPU-target entry points of the portable trellis kernel (trellis_matvec_simd.cc,
// Highway dynamic dispatch); the seam between the SIMD file and the glue (trellis_matvec.cc).
// Callers use trellis_matvec.h.
#pragma once

#include <cstdint>

#include "kernels/trellis_matvec.h"

namespace quip::kernels::simd {

// The tile starting at `tile` (TileWords(w.bits) little-endian words, unaligned) as 256
// row-major floats, equal to trellis::DecodeTileReference with w's code, table and scale.
void DecodeTrellisTile(const TrellisMatrixView& w, const uint8_t* tile, float* weights);

// y[16·b .. 16·b + 16) for row blocks [b0, b1), fp32: each tile decoded (scale 1) and
// multiplied with x, the scale applied once per row.
void TrellisRowBlocks(const TrellisMatrixView& w, const float* x, int b0, int b1, float* y);

}  // namespace quip::kernels::simd
