#include "format/packing.h"

#include "core/error.h"

namespace quip {
namespace {

void CheckBits(int bits) {
  QUIP_CHECK_INPUT(bits == 2 || bits == 3 || bits == 4, "packing", "unsupported bit width {} (2, 3 or 4)", bits);
}

// Generic bit-stream writer/reader for the tail that does not fill a whole group.
void PackTail(const uint8_t* codes, int64_t begin, int64_t n, int bits, uint8_t* packed) {
  for (int64_t i = begin; i < n; ++i) {
    const int64_t bit = i * bits;
    const uint32_t v = uint32_t(codes[i]) << (bit % 8);
    packed[bit / 8] |= uint8_t(v);
    if ((bit % 8) + bits > 8) packed[bit / 8 + 1] |= uint8_t(v >> 8);
  }
}

void UnpackTail(const uint8_t* packed, int64_t begin, int64_t n, int bits, uint8_t* out) {
  const uint32_t mask = (1u << bits) - 1;
  for (int64_t i = begin; i < n; ++i) {
    const int64_t bit = i * bits;
    uint32_t v = packed[bit / 8];
    if ((bit % 8) + bits > 8) v |= uint32_t(packed[bit / 8 + 1]) << 8;
    out[i] = uint8_t((v >> (bit % 8)) & mask);
  }
}

}  // namespace

int64_t PackedBytes(int64_t n, int bits) {
  CheckBits(bits);
  QUIP_CHECK_INPUT(n >= 0, "packing", "negative code count {}", n);
  return (n * bits + 7) / 8;
}

void PackCodesInto(const uint8_t* codes, int64_t n, int bits, uint8_t* packed) {
  const int64_t bytes = PackedBytes(n, bits);
  const uint32_t limit = 1u << bits;
  for (int64_t i = 0; i < n; ++i)
    QUIP_CHECK_INPUT(codes[i] < limit, "packing", "code {} at index {} does not fit in {} bits", codes[i], i, bits);
  for (int64_t i = 0; i < bytes; ++i) packed[i] = 0;
  // Whole groups: 8 codes fill exactly `bits` bytes, so groups start byte-aligned.
  const int64_t groups = n / 8;
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* c = codes + g * 8;
    uint32_t lo = 0;  // 8·bits ≤ 32 bits
    for (int k = 0; k < 8; ++k) lo |= uint32_t(c[k]) << (k * bits);
    uint8_t* dst = packed + g * bits;
    for (int k = 0; k < bits; ++k) dst[k] = uint8_t(lo >> (8 * k));
  }
  PackTail(codes, groups * 8, n, bits, packed);
}

std::vector<uint8_t> PackCodes(const uint8_t* codes, int64_t n, int bits) {
  std::vector<uint8_t> packed(PackedBytes(n, bits));
  PackCodesInto(codes, n, bits, packed.data());
  return packed;
}

void UnpackCodes(const uint8_t* packed, int64_t n, int bits, uint8_t* out) {
  CheckBits(bits);
  const uint32_t mask = (1u << bits) - 1;
  const int64_t groups = n / 8;
  for (int64_t g = 0; g < groups; ++g) {
    const uint8_t* src = packed + g * bits;
    uint32_t lo = 0;
    for (int k = 0; k < bits; ++k) lo |= uint32_t(src[k]) << (8 * k);
    for (int k = 0; k < 8; ++k) out[g * 8 + k] = uint8_t((lo >> (k * bits)) & mask);
  }
  UnpackTail(packed, groups * 8, n, bits, out);
}

std::vector<uint8_t> PackMatrix(const uint8_t* codes, int64_t rows, int64_t cols, int bits) {
  const int64_t row_bytes = PackedBytes(cols, bits);
  std::vector<uint8_t> packed(rows * row_bytes);
  for (int64_t r = 0; r < rows; ++r) PackCodesInto(codes + r * cols, cols, bits, packed.data() + r * row_bytes);
  return packed;
}

void UnpackMatrix(const uint8_t* packed, int64_t rows, int64_t cols, int bits, uint8_t* out) {
  const int64_t row_bytes = PackedBytes(cols, bits);
  for (int64_t r = 0; r < rows; ++r) UnpackCodes(packed + r * row_bytes, cols, bits, out + r * cols);
}

}  // namespace quip
