#include "quant/pack.h"

#include "core/error.h"
#include "format/packing.h"

namespace quip {
namespace {

// The row layout of format/stored_linear.h, "e8p": stage-1 u16 indices, then the stage-2 codes.
std::vector<uint8_t> PackE8P(const QuantizedMatrix& q, int64_t row_bytes) {
  const int ng = E8PGroups(q.cols), stages = E8PStages(q.bits);
  QUIP_ASSERT(q.group_codes.size() == size_t(q.rows) * ng * stages);
  std::vector<uint8_t> packed(size_t(q.rows) * row_bytes, 0);
  for (int r = 0; r < q.rows; ++r) {
    uint8_t* row = packed.data() + r * row_bytes;
    const uint32_t* codes = q.group_codes.data() + size_t(r) * ng * stages;
    for (int j = 0; j < ng; ++j) {
      row[2 * j] = uint8_t(codes[j * stages] & 0xFF);
      row[2 * j + 1] = uint8_t(codes[j * stages] >> 8);
      if (q.bits == 3) row[2 * ng + j] = uint8_t(codes[j * stages + 1]);
      if (q.bits == 4) {
        row[2 * ng + 2 * j] = uint8_t(codes[j * stages + 1] & 0xFF);
        row[2 * ng + 2 * j + 1] = uint8_t(codes[j * stages + 1] >> 8);
      }
    }
  }
  return packed;
}

}  // namespace

StoredLinear PackQuantizedMatrix(const QuantizedMatrix& q) {
  StoredLinear s;
  s.rows = q.rows;
  s.cols = q.cols;
  s.bits = q.bits;
  s.codebook = q.codebook;
  s.incoherence = q.incoherence;
  switch (q.codebook) {
    case Codebook::kScalar:
      QUIP_ASSERT(q.codes.size() == size_t(q.rows) * q.cols);
      s.owned_codes = PackMatrix(q.codes.data(), q.rows, q.cols, q.bits);
      s.scale = q.row_scale;
      s.zero = q.row_zero;
      break;
    case Codebook::kE8P:
      s.owned_codes = PackE8P(q, s.RowBytes());
      s.scale = q.stage_scale;
      break;
    case Codebook::kTrellis: {
      // The words as little-endian bytes (format/trellis_tiles.h).
      QUIP_ASSERT(q.tile_words.size() * 4 == size_t(s.CodeRows()) * s.RowBytes() && q.stage_scale.size() == 1);
      s.owned_codes.resize(q.tile_words.size() * 4);
      for (size_t i = 0; i < q.tile_words.size(); ++i)
        for (int b = 0; b < 4; ++b) s.owned_codes[4 * i + b] = uint8_t(q.tile_words[i] >> (8 * b));
      s.scale = q.stage_scale;
      s.trellis_code = q.trellis_code;
      s.code_table = q.code_table;
      break;
    }
  }
  return s;
}

}  // namespace quip
