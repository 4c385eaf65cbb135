// QTIP's matrix quantizer: block LDLQ (block_ldlq.h) over 16-column groups, each group
// rounded in 16×16 tiles, each tile one tail-biting path of the bitshift trellis
// (bitshift_trellis.h) through its 256 weights in row-major order, at x ↦ scale·Q(x/scale).
//
// Tile order (frozen with the format): tile (i, j) covers rows [16i, 16i + 16) and columns
// [16j, 16j + 16); tiles are stored row block by row block, i.e. tile index i·(n/16) + j,
// each as its packed bitstream of 256·K bits (8·K 32-bit words). One token's product then
// streams one row block's tiles for 16 outputs at a time.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <vector>

#include "quant/bitshift_trellis.h"
#include "quant/block_ldlq.h"

namespace quip::trellis {

constexpr int kTileSide = 16;
constexpr int kTileWeights = kTileSide * kTileSide;

struct TrellisRounding {
  std::vector<uint32_t> words;  // (m/16)·(n/16) tiles × WordsPerTile
  Eigen::MatrixXd w_hat;        // m×n, units of W
};

// 32-bit words of one tile's bitstream.
int WordsPerTile(const BitshiftTrellis& t);

// W is m×n with m, n multiples of 16; f.g == 16. Tiles of a column group run in parallel.
TrellisRounding RoundTrellisLdlq(const Eigen::MatrixXd& W, const BlockLdlFactor& f, const BitshiftTrellis& t,
                                 double scale);
// Each tile rounded on its own target (no feedback): the baseline.
TrellisRounding RoundTrellisNearest(const Eigen::MatrixXd& W, const BitshiftTrellis& t, double scale);
// Ŵ of stored tiles (the definition the inference kernels are tested against).
Eigen::MatrixXd DecodeTrellisTiles(const std::vector<uint32_t>& words, int rows, int cols, const BitshiftTrellis& t,
                                   double scale);

}  // namespace quip::trellis
