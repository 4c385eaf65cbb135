// QTIP's stored layout (format/stored_linear.h, "trellis"), frozen with the format:
//
// G (rows × cols, both padded up to multiples of 16 with zero-weight rows / columns) is cut
// into 16×16 tiles. Tile (i, j) covers rows [16i, 16i + 16) and columns [16j, 16j + 16);
// tiles are stored row block by row block (tile index i·(cols/16) + j), so one row block
// of 16 outputs is one contiguous run of tiles. A tile is the cyclic bitstream of its
// trellis path: 256·K bits (K = bits per weight) in 8·K 32-bit words, MSB first (bit b of
// the stream is bit 31 − b % 32 of word b / 32), words little-endian in the file.
// Step s of the 256/V steps (V values per state, trellis_codes.h) reads the 16-bit window
// that starts at bit s·K·V, wrapping around the end of the stream: that window is the
// state, and its V values times the matrix's scale are the tile's weights
// s·V .. s·V + V − 1 in row-major order within the tile.
#pragma once

#include <cstdint>

#include "format/trellis_codes.h"

namespace quip::trellis {

constexpr int kTileSide = 16;
constexpr int kTileWeights = kTileSide * kTileSide;

// 32-bit words of one tile at `bits` per weight.
constexpr int TileWords(int bits) { return kTileWeights * bits / 32; }
// n rounded up to whole tiles.
constexpr int TilePadded(int n) { return (n + kTileSide - 1) / kTileSide * kTileSide; }

// The states of a cyclic stream of `steps` windows of `state_bits` bits, `step_bits` apart.
void StreamStates(const uint32_t* words, int steps, int step_bits, int state_bits, uint32_t* states);

// One tile's 256 weights (row-major within the tile) by the definition above, with the
// code's scalar decoders: the reference the inference kernels are tested against.
// `hyb_table` is the HYB table's 2^9 × 2 values (nullptr for the other codes).
void DecodeTileReference(const uint32_t* words, int bits, Code code, const float* hyb_table, float scale,
                         float* weights);

// HYB: which table value each of a tile's 256 weights is (row-major within the tile): the
// entry 2·row + k of the 2^9 × 2 table (k the value's place in the pair), | kHybNegated when
// the weight is its negation. weight = scale · (±table[entry]): G is linear in the table,
// which is what fine-tuning differentiates (train/train_linear.h).
constexpr uint16_t kHybNegated = 0x8000;
void HybTileEntries(const uint32_t* words, int bits, uint16_t* entries);

}  // namespace quip::trellis
