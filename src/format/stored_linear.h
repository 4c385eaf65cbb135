// What quip stores for one quantized linear layer, as plain data: the codebook and bit
// width, the incoherence transforms that surround it, and the packed codes with their
// scales. The quantizer produces it (quant/), the file format reads and writes it
// (io/quip_format.h), the model builds its layer from it (model/incoherent_linear.h).
//
// Inference computes y = Ŵ x as
//     x' = V (x / rescale);   z = G x';   y = Uᵀ z
// with U, V the rotations Rotation(kind, rows, seed_u) and Rotation(kind, cols, seed_v)
// (format/rotation.h) when incoherent, and G decoded from the codes by codebook:
//   scalar  G[r][c] = scale[r] · (code[r][c] − zero[r]); row r holds cols codes of `bits`
//           bits, packed as format/packing.h: PackedBytes(cols, bits) bytes.
//   e8p     ng = ⌈cols/8⌉ groups of 8 weights per row (the last padded with columns that
//           multiply zero activations); group j is scale[0]·E8P(i₀) (+ scale[1]·S(i₁)),
//           S the one-bit E8 codebook at 3 bits, E8P again at 4 (RVQ; format/e8p.h,
//           format/vector_codebook.h). Row layout (frozen): the ng stage-1 indices as
//           little-endian u16, then at 3 bits ng bytes, at 4 bits ng more u16: bits·ng bytes.
//   trellis QTIP: G[r][c] = scale[0] · code value of the state that covers (r, c) in the
//           tiles of format/trellis_tiles.h (rows and columns padded to multiples of 16);
//           `trellis_code` names the code, `code_table` holds the HYB table (one per model
//           in the file). A "code row" is a row block of 16 rows: its tiles' words.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "format/trellis_codes.h"

namespace quip {

// Which orthogonal transform incoherence uses.
enum class RotationKind : uint8_t { kKron, kRht };
// How G is coded.
enum class Codebook : uint8_t { kScalar, kE8P, kTrellis };

// One frozen name table per enum, used for writing and reading files, reports and command
// lines alike. Names are stored in files: append entries, never rename one.
template <typename Enum>
struct EnumName {
  Enum value;
  const char* name;
};
inline constexpr EnumName<RotationKind> kRotationNames[] = {{RotationKind::kKron, "kron"}, {RotationKind::kRht, "rht"}};
inline constexpr EnumName<Codebook> kCodebookNames[] = {
    {Codebook::kScalar, "scalar"}, {Codebook::kE8P, "e8p"}, {Codebook::kTrellis, "trellis"}};

template <typename Enum, size_t N>
constexpr const char* NameOf(const EnumName<Enum> (&table)[N], Enum value) {
  for (const auto& e : table)
    if (e.value == value) return e.name;
  return "?";
}
template <typename Enum, size_t N>
std::optional<Enum> FindByName(const EnumName<Enum> (&table)[N], const std::string& name) {
  for (const auto& e : table)
    if (name == e.name) return e.value;
  return std::nullopt;
}
// "a, b, c": the names of a table, for error messages.
template <typename Enum, size_t N>
std::string NamesOf(const EnumName<Enum> (&table)[N]) {
  std::string s;
  for (const auto& e : table) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

const char* RotationName(RotationKind kind);
// Inverse of RotationName; throws quip::Error naming `where` for an unknown name.
RotationKind ParseRotation(const std::string& name, const std::string& where);
const char* CodebookName(Codebook c);
Codebook ParseCodebook(const std::string& name, const std::string& where);

inline constexpr int kE8PGroup = 8;  // weights per E8P index
// Groups of 8 weights per row of `cols` (the last one padded).
inline int E8PGroups(int cols) { return (cols + kE8PGroup - 1) / kE8PGroup; }
// Stages of the E8P codebook at `bits` (2 → 1, 3 and 4 → 2).
inline int E8PStages(int bits) { return bits == 2 ? 1 : 2; }

// The transforms around G: D̃ and, when incoherent, U and V regenerated from their seeds.
struct Incoherence {
  std::vector<float> rescale;  // D̃ (cols), empty when rescaling is off
  bool incoherent = false;
  RotationKind rotation = RotationKind::kKron;  // which U, V when incoherent
  uint64_t seed_u = 0, seed_v = 0;

  // "kron", "rht" or "none": what quip.linears and quant_report.json say.
  const char* Name() const { return incoherent ? RotationName(rotation) : "none"; }
};

struct StoredLinear {
  int rows = 0, cols = 0, bits = 0;
  Codebook codebook = Codebook::kScalar;
  Incoherence incoherence;
  std::vector<float> scale;  // scalar: rows values; e8p: E8PStages(bits) values; trellis: 1
  std::vector<float> zero;   // scalar: rows values; e8p, trellis: empty
  trellis::Code trellis_code = trellis::Code::k1Mad;  // trellis only
  std::vector<float> code_table;                      // trellis with the HYB code: 2^9 × 2 values
  // CodeRows() · RowBytes() bytes: borrowed (e.g. from a memory map the Model keeps alive) or owned.
  const uint8_t* borrowed_codes = nullptr;
  std::vector<uint8_t> owned_codes;

  const uint8_t* codes() const { return borrowed_codes ? borrowed_codes : owned_codes.data(); }
  // Rows of the codes tensor: `rows`, or for trellis the row blocks of 16.
  int CodeRows() const;
  // Bytes of one code row.
  int64_t RowBytes() const;
  // Bytes of the stored tensors, which a single-token product reads: codes, scales, zeros,
  // D̃ (a scalar scale or zero shared by every row is stored as one value).
  int64_t StoredBytes() const;
  // Scalar grid: every row has the same scale and zero.
  bool UniformGrid() const;
};

// Bytes of one code row (StoredLinear::RowBytes) of `cols` weights.
int64_t StoredRowBytes(Codebook codebook, int cols, int bits);
// Rows of the codes tensor of a `rows`-row matrix.
int StoredCodeRows(Codebook codebook, int rows);

}  // namespace quip
