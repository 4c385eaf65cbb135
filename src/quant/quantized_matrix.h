// The result of quantizing one linear layer, and the contract between the
// quantization algorithms (src/quant) and the storage/inference code.
//
// Reconstruction (Algorithm 2 of QuIP, folded into inference):
//   grid value   g[r][c] = row_scale[r] * (code[r][c] - row_zero[r])     (codes in [0, 2^bits - 1])
//   weight       W_hat   = U^T * G * V * diag(1 / rescale)              (incoherent)
//                W_hat   = G * diag(1 / rescale)                        (no incoherence)
// so y = W_hat x is computed as  x' = V (x / rescale);  z = G x';  y = U^T z.
// U (rows x rows) and V (cols x cols) are KroneckerTransform(rows, seed_u) and
// KroneckerTransform(cols, seed_v); `rescale` is empty when diagonal rescaling is off.
// With QuIP's one-scale-per-matrix grid every row has the same row_scale/row_zero;
// the non-incoherent baselines use per-row min/max grids.
#pragma once

#include <cstdint>
#include <vector>

namespace quip {

struct QuantizedMatrix {
  int rows = 0;
  int cols = 0;
  int bits = 0;
  std::vector<uint8_t> codes;      // rows * cols, row-major, each < 2^bits (unpacked)
  std::vector<float> row_scale;    // rows
  std::vector<float> row_zero;     // rows
  std::vector<float> rescale;      // cols, or empty (D-tilde)
  bool incoherent = false;
  uint64_t seed_u = 0;
  uint64_t seed_v = 0;
};

}  // namespace quip
