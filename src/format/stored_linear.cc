#include "format/stored_linear.h"

#include <algorithm>

#include "core/error.h"
#include "format/packing.h"
#include "format/trellis_tiles.h"

namespace quip {

const char* RotationName(RotationKind kind) { return NameOf(kRotationNames, kind); }

RotationKind ParseRotation(const std::string& name, const std::string& where) {
  if (auto kind = FindByName(kRotationNames, name)) return *kind;
  Fail(where, "unknown incoherence transform '{}' ({})", name, NamesOf(kRotationNames));
}

const char* CodebookName(Codebook c) { return NameOf(kCodebookNames, c); }

Codebook ParseCodebook(const std::string& name, const std::string& where) {
  if (auto c = FindByName(kCodebookNames, name)) return *c;
  Fail(where, "unknown codebook '{}' ({})", name, NamesOf(kCodebookNames));
}

int64_t StoredRowBytes(Codebook codebook, int cols, int bits) {
  QUIP_ASSERT(cols > 0);
  switch (codebook) {
    case Codebook::kScalar: return PackedBytes(cols, bits);
    case Codebook::kE8P: return int64_t(E8PGroups(cols)) * bits;  // 2, 3 or 4 bytes per group of 8
    case Codebook::kTrellis: return int64_t(trellis::TilePadded(cols) / trellis::kTileSide) * trellis::TileWords(bits) * 4;
  }
  QUIP_ASSERT(false);
  return 0;
}

int StoredCodeRows(Codebook codebook, int rows) {
  return codebook == Codebook::kTrellis ? trellis::TilePadded(rows) / trellis::kTileSide : rows;
}

int64_t StoredLinear::RowBytes() const { return StoredRowBytes(codebook, cols, bits); }
int StoredLinear::CodeRows() const { return StoredCodeRows(codebook, rows); }

namespace {
// A value shared by every row is stored once (a [1] tensor, io/quip_format.h).
int64_t StoredValues(const std::vector<float>& v, Codebook codebook) {
  const bool per_row = codebook == Codebook::kScalar;
  const bool uniform = std::all_of(v.begin(), v.end(), [&](float x) { return x == v[0]; });
  return per_row && uniform && !v.empty() ? 1 : int64_t(v.size());
}
}  // namespace

bool StoredLinear::UniformGrid() const {
  return StoredValues(scale, codebook) == 1 && StoredValues(zero, codebook) == 1;
}

int64_t StoredLinear::StoredBytes() const {
  const int64_t floats = StoredValues(scale, codebook) + StoredValues(zero, codebook) + int64_t(incoherence.rescale.size());
  // The HYB table is stored once per model, not per linear: not counted here.
  return int64_t(CodeRows()) * RowBytes() + int64_t(sizeof(float)) * floats;
}

}  // namespace quip
