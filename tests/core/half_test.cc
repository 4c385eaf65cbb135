// F16/BF16 -> float conversion against known bit patterns and an exhaustive
// independent formula (every one of the 65536 codes), plus small core utilities.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/error.h"
#include "core/half.h"
#include "core/mapped_file.h"
#include "core/tensor.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

TEST(Half, F16KnownValues) {
  EXPECT_EQ(Bits(F16ToFloat(0x0000)), 0x00000000u);  // +0
  EXPECT_EQ(Bits(F16ToFloat(0x8000)), 0x80000000u);  // -0
  EXPECT_EQ(F16ToFloat(0x3C00), 1.0f);
  EXPECT_EQ(F16ToFloat(0xBC00), -1.0f);
  EXPECT_EQ(F16ToFloat(0x4000), 2.0f);
  EXPECT_EQ(F16ToFloat(0xC000), -2.0f);
  EXPECT_EQ(F16ToFloat(0x3555), 0.333251953125f);
  EXPECT_EQ(F16ToFloat(0x3BFF), 0.99951171875f);      // largest below 1
  EXPECT_EQ(F16ToFloat(0x7BFF), 65504.0f);            // largest finite
  EXPECT_EQ(F16ToFloat(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(F16ToFloat(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(F16ToFloat(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(F16ToFloat(0x0200), std::ldexp(1.0f, -15));  // subnormal, one bit
  EXPECT_EQ(F16ToFloat(0x03FF), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(F16ToFloat(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(F16ToFloat(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(F16ToFloat(0x7E00)));
  EXPECT_TRUE(std::isnan(F16ToFloat(0x7C01)));  // signalling NaN stays NaN, not inf
  EXPECT_TRUE(std::isnan(F16ToFloat(0xFE00)));
}

TEST(Half, F16AllCodesMatchFormula) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
    const float got = F16ToFloat(uint16_t(h));
    if (exponent == 31) {
      if (mantissa == 0) {
        ASSERT_TRUE(std::isinf(got) && std::signbit(got) == bool(sign)) << std::hex << h;
      } else {
        ASSERT_TRUE(std::isnan(got)) << std::hex << h;
        ASSERT_EQ(Bits(got), (uint32_t(sign) << 31) | 0x7f800000u | (uint32_t(mantissa) << 13)) << std::hex << h;
      }
      continue;
    }
    const double magnitude = exponent == 0 ? std::ldexp(double(mantissa), -24)
                                           : std::ldexp(double(1024 + mantissa), exponent - 25);
    const float expected = float(sign ? -magnitude : magnitude);
    ASSERT_EQ(Bits(got), Bits(expected)) << "code 0x" << std::hex << h;
  }
}

TEST(Half, Bf16KnownValuesAndAllCodes) {
  EXPECT_EQ(Bf16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(Bf16ToFloat(0xC000), -2.0f);
  EXPECT_EQ(Bf16ToFloat(0x4049), 3.140625f);
  EXPECT_EQ(Bits(Bf16ToFloat(0x8000)), 0x80000000u);
  EXPECT_EQ(Bf16ToFloat(0x0001), std::ldexp(1.0f, -133));  // smallest subnormal
  EXPECT_EQ(Bf16ToFloat(0x0080), std::numeric_limits<float>::min());
  EXPECT_EQ(Bf16ToFloat(0x7F7F), std::ldexp(255.0f, 120));  // largest finite
  EXPECT_EQ(Bf16ToFloat(0x7F80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(Bf16ToFloat(0xFF80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(Bf16ToFloat(0x7FC0)));
  EXPECT_TRUE(std::isnan(Bf16ToFloat(0x7F81)));
  for (uint32_t h = 0; h < 65536; ++h) ASSERT_EQ(Bits(Bf16ToFloat(uint16_t(h))), h << 16);
}

// The test helpers that write F16/BF16 models round to nearest even and invert the readers.
TEST(Half, TestingEncodersRoundTrip) {
  for (uint32_t h = 0; h < 65536; ++h) {
    if (std::isnan(F16ToFloat(uint16_t(h)))) continue;
    ASSERT_EQ(testing::FloatToF16Bits(F16ToFloat(uint16_t(h))), h) << std::hex << h;
    ASSERT_EQ(testing::FloatToBf16Bits(Bf16ToFloat(uint16_t(h))), h) << std::hex << h;
  }
  EXPECT_EQ(testing::FloatToF16Bits(1.0f + std::ldexp(1.0f, -11)), 0x3C00);  // tie -> even
  EXPECT_EQ(testing::FloatToF16Bits(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(testing::FloatToF16Bits(65520.0f), 0x7C00);  // rounds to inf
  EXPECT_EQ(testing::FloatToF16Bits(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even (zero)
  EXPECT_EQ(testing::FloatToF16Bits(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(testing::FloatToBf16Bits(1.0f + std::ldexp(1.0f, -8)), 0x3F80);  // tie -> even
  EXPECT_EQ(testing::FloatToBf16Bits(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
}

TEST(Core, ShapeStringAndOwnFloats) {
  EXPECT_EQ(ShapeString({}), "[]");
  EXPECT_EQ(ShapeString({3, 4}), "[3, 4]");
  std::vector<StorageOwner> owners;
  const TensorView v = OwnFloats({1, 2, 3, 4, 5, 6}, {2, 3}, owners);
  EXPECT_EQ(owners.size(), 1u);
  EXPECT_EQ(v.numel(), 6);
  EXPECT_EQ(v.rows(), 2);
  EXPECT_EQ(v.cols(), 3);
  EXPECT_EQ(v.row(1)[0], 4.0f);
}

TEST(Core, MappedFileAndErrors) {
  const std::string dir = testing::MakeTempDir("mapped");
  std::ofstream(dir + "/empty");
  std::ofstream(dir + "/abc") << "abc";
  EXPECT_EQ(MappedFile(dir + "/empty").size(), 0u);
  const MappedFile abc(dir + "/abc");
  ASSERT_EQ(abc.size(), 3u);
  EXPECT_EQ(std::memcmp(abc.data(), "abc", 3), 0);
  auto message = [](const std::string& path) {
    try {
      MappedFile f(path);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(dir + "/none"), dir + "/none: cannot open: No such file or directory");
  EXPECT_EQ(message(dir), dir + ": not a regular file");
  try {
    QUIP_CHECK_INPUT(1 + 1 == 3, "file.txt", "bad value {} at {}", 7, "here");
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "file.txt: bad value 7 at here");
  }
}

}  // namespace
}  // namespace quip
