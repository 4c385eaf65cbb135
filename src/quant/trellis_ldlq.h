// QTIP's matrix quantizer: block LDLQ (block_ldlq.h) over 16-column groups, each group
// rounded in 16×16 tiles, each tile one tail-biting path of the bitshift trellis
// (bitshift_trellis.h) through its 256 weights in row-major order, at x ↦ scale·Q(x/scale).
//
// The tiles' order and bitstreams are the stored layout of format/trellis_tiles.h.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <vector>

#include "format/trellis_tiles.h"
#include "quant/bitshift_trellis.h"
#include "quant/block_ldlq.h"

namespace quip::trellis {

struct TrellisRounding {
  std::vector<uint32_t> words;  // (m/16)·(n/16) tiles × TileWords(K)
  Eigen::MatrixXd w_hat;        // m×n, units of W
};

// W is m×n with m, n multiples of 16; f.g == 16. Tiles of a column group run in parallel.
// row_loss as RoundBlockLdlqWith's.
TrellisRounding RoundTrellisLdlq(const Eigen::MatrixXd& W, const BlockLdlFactor& f, const BitshiftTrellis& t,
                                 double scale, Eigen::VectorXd* row_loss = nullptr);
// Each tile rounded on its own target (no feedback): the baseline.
TrellisRounding RoundTrellisNearest(const Eigen::MatrixXd& W, const BitshiftTrellis& t, double scale);
// Ŵ of stored tiles (the definition the inference kernels are tested against).
Eigen::MatrixXd DecodeTrellisTiles(const std::vector<uint32_t>& words, int rows, int cols, const BitshiftTrellis& t,
                                   double scale);

}  // namespace quip::trellis
