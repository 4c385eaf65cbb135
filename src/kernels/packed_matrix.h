// What a quantized-matrix kernel reads: b-bit codes in the packed layout of
// format/packing.h (LSB-first bit stream, every row starting on a byte) and the
// per-row grid, g[r][c] = row_scale[r] * (code[r][c] - row_zero[r]).
// A view only: the bytes belong to a StoredLinear (format/stored_linear.h) or its memory map.
#pragma once

#include <cstdint>

namespace quip::kernels {

struct PackedMatrixView {
  int rows = 0;
  int cols = 0;
  int bits = 0;             // 2, 3 or 4
  int64_t row_bytes = 0;    // PackedBytes(cols, bits)
  const uint8_t* codes = nullptr;  // rows * row_bytes
  const float* row_scale = nullptr;  // rows
  const float* row_zero = nullptr;   // rows
};

}  // namespace quip::kernels
