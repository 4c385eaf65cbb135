// The result of quantizing one linear layer, unpacked: the contract between the
// quantization algorithms (src/quant) and the storage/inference code, which packs it
// into a StoredLinear (format/stored_linear.h has the meaning of every field: the basis,
// the transforms and G by codebook). quant/pack.h packs it.
#pragma once

#include <cstdint>
#include <vector>

#include "format/stored_linear.h"

namespace quip {

struct QuantizedMatrix {
  int rows = 0;
  int cols = 0;
  int bits = 0;
  Codebook codebook = Codebook::kScalar;
  // scalar
  std::vector<uint8_t> codes;      // rows * cols, row-major, each < 2^bits (unpacked)
  std::vector<float> row_scale;    // rows
  std::vector<float> row_zero;     // rows
  // e8p
  std::vector<uint32_t> group_codes;  // rows * E8PGroups(cols) * stages
  std::vector<float> stage_scale;     // e8p: stages (1 at 2 bits, 2 at 3 and 4 bits); trellis: 1
  // trellis
  std::vector<uint32_t> tile_words;   // format/trellis_tiles.h: (rows/16)·(cols/16) tiles, both padded
  trellis::Code trellis_code = trellis::Code::k1Mad;
  std::vector<float> code_table;      // HYB's table
  // all
  Incoherence incoherence;
};

}  // namespace quip
