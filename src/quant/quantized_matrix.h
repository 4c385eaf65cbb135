// The result of quantizing one linear layer, and the contract between the
// quantization algorithms (src/quant) and the storage/inference code.
//
// Basis. W' = U · W · diag(rescale) · Vᵀ is what gets quantized (incoherent), or
// W' = W · diag(rescale) (not). U (rows×rows) and V (cols×cols) are the orthogonal
// transforms Rotation(rotation, rows, seed_u) and Rotation(rotation, cols, seed_v)
// (quant/rotation.h: Kronecker or randomized Hadamard); `rescale` (D̃) is empty when
// diagonal rescaling is off. Inference computes y = W_hat x as
//     x' = V (x / rescale);   z = G x';   y = Uᵀ z.
//
// G, by codebook:
//   scalar  G[r][c] = row_scale[r] * (code[r][c] - row_zero[r]), codes in [0, 2^bits − 1].
//           QuIP's one-scale grid has the same row_scale/row_zero in every row; the
//           non-incoherent baselines use per-row min/max grids.
//   e8p     QuIP#'s lattice codebook (quant/e8p.h, quant/block_ldlq.h): each row is cut
//           into ng = ⌈cols/8⌉ groups of 8 weights (a last partial group is padded with
//           columns that multiply zero activations, so their values never matter); group j
//           of row r is
//               stage_scale[0] * E8P(i0) (+ stage_scale[1] * S(i1))
//           with i_k = group_codes[(r·ng + j)·stages + k] and the second stage S by bits:
//           2 bits: none; 3 bits: the 256-point one-bit E8 codebook (quant/block_ldlq.h,
//           E8OneBitCodebook); 4 bits: E8P again (residual vector quantization).
#pragma once

#include <cstdint>
#include <vector>

namespace quip {

// Which orthogonal transform incoherence uses. Files say "kron" / "rht" (frozen).
enum class RotationKind : uint8_t { kKron, kRht };
// How G is coded. Files say "scalar" / "e8p" (frozen; append new codebooks only).
enum class Codebook : uint8_t { kScalar, kE8P };

inline constexpr int kE8PGroup = 8;  // weights per E8P index

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
  std::vector<float> stage_scale;     // stages (1 at 2 bits, 2 at 3 and 4 bits)
  // both
  std::vector<float> rescale;      // cols, or empty (D-tilde)
  bool incoherent = false;
  RotationKind rotation = RotationKind::kKron;
  uint64_t seed_u = 0;
  uint64_t seed_v = 0;
};

// Groups of 8 weights per row of `cols` (the last one padded).
inline int E8PGroups(int cols) { return (cols + kE8PGroup - 1) / kE8PGroup; }
// Stages of the E8P codebook at `bits` (2 → 1, 3 and 4 → 2).
inline int E8PStages(int bits) { return bits == 2 ? 1 : 2; }

}  // namespace quip
