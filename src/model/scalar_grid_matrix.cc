#include "model/scalar_grid_matrix.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "format/packing.h"
#include "kernels/quant_matmul.h"

namespace quip {
namespace {
// Rows dequantized per BLAS call on the reference path: small enough to stay in L2
// (64 x 4096 floats = 1 MiB).
constexpr int kReferenceTileRows = 64;
}  // namespace

ScalarGridMatrix::ScalarGridMatrix(StoredLinear stored) : CodebookMatrix(std::move(stored)) {
  const StoredLinear& s = this->stored();
  QUIP_ASSERT(s.codebook == Codebook::kScalar);
  QUIP_ASSERT(s.bits >= 1 && s.bits <= 8);
  QUIP_ASSERT(int(s.scale.size()) == s.rows && int(s.zero.size()) == s.rows);
}

kernels::PackedMatrixView ScalarGridMatrix::View() const {
  const StoredLinear& s = stored();
  return {s.rows, s.cols, s.bits, s.RowBytes(), s.codes(), s.scale.data(), s.zero.data()};
}

void ScalarGridMatrix::ProductFewTokens(const float* x, int ntok, float* y) const {
  kernels::QuantMatmul(View(), x, ntok, y);
}

void ScalarGridMatrix::ProductManyTokens(const float* x, int ntok, float* y) const {
  kernels::QuantGemm(View(), x, ntok, y);
}

void ScalarGridMatrix::DecodeRows(int r0, int nr, float* tile) const {
  const StoredLinear& s = stored();
  const int64_t row_bytes = s.RowBytes();
  std::vector<uint8_t> codes(size_t(s.cols));
  for (int r = 0; r < nr; ++r) {
    UnpackCodes(s.codes() + size_t(r0 + r) * row_bytes, s.cols, s.bits, codes.data());
    const float scale = s.scale[r0 + r], zero = s.zero[r0 + r];
    float* dst = tile + size_t(r) * s.cols;
    for (int c = 0; c < s.cols; ++c) dst[c] = scale * (float(codes[c]) - zero);
  }
}

void ScalarGridMatrix::ProductReference(const float* x, int ntok, float* y) const {
  const int rows = stored().rows, cols = stored().cols;
  std::vector<float> tile(size_t(kReferenceTileRows) * cols);
  for (int r0 = 0; r0 < rows; r0 += kReferenceTileRows) {
    const int nr = std::min(kReferenceTileRows, rows - r0);
    DecodeRows(r0, nr, tile.data());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ntok, nr, cols, 1.0f, x, cols, tile.data(), cols, 0.0f,
                y + r0, rows);
  }
}

std::string ScalarGridMatrix::FormatName() const {
  const Incoherence& inc = stored().incoherence;
  const std::string bits = std::to_string(stored().bits) + "bit";
  if (!inc.incoherent) return "minmax-" + bits;
  return (inc.rotation == RotationKind::kRht ? "quip-rht-" : "quip-") + bits;
}

}  // namespace quip
