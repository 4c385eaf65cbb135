#include "model/e8p_matrix.h"

#include "core/error.h"
#include "format/e8p.h"
#include "format/vector_codebook.h"

namespace quip {
namespace {
uint16_t Load16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }
}  // namespace

E8PMatrix::E8PMatrix(StoredLinear stored) : CodebookMatrix(std::move(stored)) {
  const StoredLinear& s = this->stored();
  QUIP_ASSERT(s.codebook == Codebook::kE8P && s.bits >= 2 && s.bits <= 4 && s.zero.empty());
  QUIP_CHECK_INPUT(s.scale.size() == size_t(E8PStages(s.bits)), "e8p layer", "{} bits need {} scale(s), got {}",
                   s.bits, E8PStages(s.bits), s.scale.size());
}

kernels::E8PMatrixView E8PMatrix::View() const {
  const StoredLinear& s = stored();
  kernels::E8PMatrixView w;
  w.rows = s.rows;
  w.groups = E8PGroups(s.cols);
  w.bits = s.bits;
  w.row_bytes = s.RowBytes();
  w.codes = s.codes();
  for (size_t k = 0; k < s.scale.size(); ++k) w.stage_scale[k] = s.scale[k];
  return w;
}

void E8PMatrix::ProductFewTokens(const float* x, int ntok, float* y) const {
  QUIP_ASSERT(ntok == 1);
  kernels::E8PMatvec(View(), x, y);
}

void E8PMatrix::DecodeRows(int r0, int nr, float* tile) const {
  const kernels::E8PMatrixView w = View();
  const int cols = padded_cols();
  for (int r = 0; r < nr; ++r) kernels::E8PDecodeRow(w, r0 + r, tile + size_t(r) * cols);
}

void E8PMatrix::ProductReference(const float* x, int ntok, float* y) const {
  const StoredLinear& s = stored();
  const int rows = s.rows, cols = padded_cols(), ng = cols / kE8PGroup;
  const int64_t row_bytes = s.RowBytes();
  std::vector<double> w(cols), p(8);
  for (int r = 0; r < rows; ++r) {
    const uint8_t* row = s.codes() + r * row_bytes;
    for (int j = 0; j < ng; ++j) {
      e8p::Decode(Load16(row + 2 * j), p.data());
      for (int i = 0; i < 8; ++i) w[8 * j + i] = s.scale[0] * p[i];
      if (s.bits == 3) {
        const auto& point = E8OneBitCodebook::Points()[row[2 * ng + j]];
        for (int i = 0; i < 8; ++i) w[8 * j + i] += s.scale[1] * point[i];
      }
      if (s.bits == 4) {
        e8p::Decode(Load16(row + 2 * ng + 2 * j), p.data());
        for (int i = 0; i < 8; ++i) w[8 * j + i] += s.scale[1] * p[i];
      }
    }
    for (int t = 0; t < ntok; ++t) {
      double acc = 0.0;
      for (int c = 0; c < cols; ++c) acc += w[c] * x[size_t(t) * cols + c];
      y[size_t(t) * rows + r] = float(acc);
    }
  }
}

std::string E8PMatrix::FormatName() const { return "e8p-" + std::to_string(stored().bits) + "bit"; }

}  // namespace quip
