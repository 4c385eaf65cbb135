// Bit packing: round trips, the documented byte layout, and row alignment.
#include "format/packing.h"

#include <gtest/gtest.h>

#include <random>

#include "core/error.h"

namespace quip {
namespace {

TEST(QuantPacking, RoundTripsOddLengths) {
  std::mt19937 rng(5);
  for (int bits : {2, 3, 4}) {
    for (int64_t n : {0, 1, 3, 5, 7, 8, 9, 13, 31, 100, 1001}) {
      std::vector<uint8_t> codes(n);
      for (auto& c : codes) c = uint8_t(rng() % (1u << bits));
      const std::vector<uint8_t> packed = PackCodes(codes.data(), n, bits);
      ASSERT_EQ(int64_t(packed.size()), (n * bits + 7) / 8) << bits << " bits, n=" << n;
      std::vector<uint8_t> back(n, 0xFF);
      UnpackCodes(packed.data(), n, bits, back.data());
      EXPECT_EQ(back, codes) << bits << " bits, n=" << n;
    }
  }
}

TEST(QuantPacking, ByteLayoutIsLsbFirstStream) {
  // 2 bits: c_i at bits 2(i mod 4).
  const uint8_t c2[5] = {1, 2, 3, 0, 3};
  EXPECT_EQ(PackCodes(c2, 5, 2), (std::vector<uint8_t>{0b00111001, 0b00000011}));
  // 4 bits: low nibble first.
  const uint8_t c4[3] = {0xA, 0x5, 0xF};
  EXPECT_EQ(PackCodes(c4, 3, 4), (std::vector<uint8_t>{0x5A, 0x0F}));
  // 3 bits: c_2 = 0b101 straddles bytes 0 and 1 (bits 6-7 of byte 0, bit 0 of byte 1).
  const uint8_t c3[4] = {0b001, 0b010, 0b101, 0b111};
  // stream bits 0..11 (LSB of each code first): 1,0,0, 0,1,0, 1,0,1, 1,1,1
  EXPECT_EQ(PackCodes(c3, 4, 3), (std::vector<uint8_t>{0b01010001, 0b00001111}));
}

TEST(QuantPacking, MatrixRowsStartOnByteBoundaries) {
  const int64_t rows = 3, cols = 11;  // 11·3 = 33 bits -> 5 bytes per row
  std::vector<uint8_t> codes(rows * cols);
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = uint8_t((i * 5 + 1) % 8);
  const std::vector<uint8_t> packed = PackMatrix(codes.data(), rows, cols, 3);
  ASSERT_EQ(int64_t(packed.size()), rows * PackedBytes(cols, 3));
  EXPECT_EQ(PackedBytes(cols, 3), 5);
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<uint8_t> row(cols);
    UnpackCodes(packed.data() + r * PackedBytes(cols, 3), cols, 3, row.data());
    EXPECT_EQ(row, std::vector<uint8_t>(codes.begin() + r * cols, codes.begin() + (r + 1) * cols));
  }
  std::vector<uint8_t> all(rows * cols);
  UnpackMatrix(packed.data(), rows, cols, 3, all.data());
  EXPECT_EQ(all, codes);
}

TEST(QuantPacking, RejectsBadWidthsAndCodes) {
  const uint8_t codes[2] = {4, 1};
  EXPECT_THROW(PackCodes(codes, 2, 2), Error);
  EXPECT_THROW(PackCodes(codes, 2, 5), Error);
  EXPECT_THROW(PackedBytes(3, 1), Error);
}

}  // namespace
}  // namespace quip
