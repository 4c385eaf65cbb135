// Safetensors reader and writer (unit): every dtype and metadata round-trip through
// the writer, the file layout the writer produces, F16/BF16 widening, and errors.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/safetensors.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;

template <typename T>
std::vector<uint8_t> Bytes(const std::vector<T>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(T));
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(Safetensors, RoundTripEveryDtypeAndMetadata) {
  const std::string path = testing::MakeTempDir("st-roundtrip") + "/all.safetensors";
  struct Case {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  const std::vector<Case> cases = {
      {"f32", DType::kF32, {2, 3}, Bytes<float>({1.5f, -2.0f, 0.0f, 3.25f, 1e-30f, -1e30f})},
      {"f16", DType::kF16, {3}, Bytes<uint16_t>({0x3C00, 0xC000, 0x0001})},
      {"bf16", DType::kBF16, {1, 3}, Bytes<uint16_t>({0x3F80, 0x4049, 0x8000})},
      {"f64", DType::kF64, {2}, Bytes<double>({3.141592653589793, -0.5})},
      {"i8", DType::kI8, {3}, Bytes<int8_t>({-128, 0, 127})},
      {"u8", DType::kU8, {5}, Bytes<uint8_t>({0, 1, 2, 254, 255})},
      {"i16", DType::kI16, {2}, Bytes<int16_t>({-32768, 32767})},
      {"u16", DType::kU16, {2}, Bytes<uint16_t>({0, 65535})},
      {"i32", DType::kI32, {2, 2}, Bytes<int32_t>({INT32_MIN, -1, 0, INT32_MAX})},
      {"u32", DType::kU32, {1}, Bytes<uint32_t>({4000000000u})},
      {"i64", DType::kI64, {2}, Bytes<int64_t>({INT64_MIN, INT64_MAX})},
      {"scalar", DType::kF32, {}, Bytes<float>({42.0f})},
      {"empty", DType::kF32, {0, 4}, {}},
  };
  SafetensorsWriter writer;
  for (const auto& c : cases) writer.Add(c.name, c.dtype, c.shape, c.bytes.data(), c.bytes.size());
  writer.SetMetadata("format", "pt");
  writer.SetMetadata("quip.note", "unicode \xC3\xA9 and \"quotes\"");
  writer.Write(path);

  const SafetensorsFile file(path);
  EXPECT_EQ(file.tensors().size(), cases.size());
  EXPECT_EQ(file.metadata().size(), 2u);
  EXPECT_EQ(file.metadata().at("format"), "pt");
  EXPECT_EQ(file.metadata().at("quip.note"), "unicode \xC3\xA9 and \"quotes\"");
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const SafetensorsTensor* t = file.Find(c.name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->dtype, c.dtype);
    EXPECT_EQ(t->shape, c.shape);
    EXPECT_EQ(t->end - t->begin, c.bytes.size());
    EXPECT_EQ(t->numel() * int64_t(DTypeSize(c.dtype)), int64_t(c.bytes.size()));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(file.RawBytes(*t)) % DTypeSize(c.dtype), 0u) << "misaligned";
    if (!c.bytes.empty()) {
      EXPECT_EQ(std::memcmp(file.RawBytes(*t), c.bytes.data(), c.bytes.size()), 0);
    }
  }
  EXPECT_EQ(file.Find("nope"), nullptr);

  // Float views: F32 zero-copy from the map, F16/BF16 widened exactly.
  std::vector<StorageOwner> owners;
  const TensorView f32 = file.ReadF32(*file.Find("f32"), owners);
  EXPECT_EQ(f32.data, reinterpret_cast<const float*>(file.RawBytes(*file.Find("f32")))) << "F32 should not be copied";
  EXPECT_EQ(f32.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(f32.data[5], -1e30f);
  const TensorView f16 = file.ReadF32(*file.Find("f16"), owners);
  EXPECT_EQ(f16.data[0], 1.0f);
  EXPECT_EQ(f16.data[1], -2.0f);
  EXPECT_EQ(f16.data[2], std::ldexp(1.0f, -24));
  const TensorView bf16 = file.ReadF32(*file.Find("bf16"), owners);
  EXPECT_EQ(bf16.data[0], 1.0f);
  EXPECT_EQ(bf16.data[1], 3.140625f);
  EXPECT_TRUE(std::signbit(bf16.data[2]) && bf16.data[2] == 0.0f);
  EXPECT_THROW(file.ReadF32(*file.Find("i32"), owners), Error);
}

TEST(Safetensors, WriterLayout) {
  const std::string path = testing::MakeTempDir("st-layout") + "/layout.safetensors";
  SafetensorsWriter writer;
  const uint16_t h[3] = {1, 2, 3};
  const float f[2] = {1.0f, 2.0f};
  writer.Add("b_half", DType::kF16, {3}, h, sizeof h);
  writer.AddF32("a_float", {2}, f);
  writer.Write(path);
  const std::string bytes = ReadAll(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[i]);
  EXPECT_EQ(n % 8, 0u) << "header padded to 8 bytes";
  EXPECT_EQ(bytes.size(), 8 + n + 8 + 6);
  const auto header = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_FALSE(header.contains("__metadata__"));  // none set
  EXPECT_EQ(header["a_float"]["dtype"], "F32");
  EXPECT_EQ(header["a_float"]["data_offsets"], nlohmann::json({0, 8}));  // wider dtypes first
  EXPECT_EQ(header["b_half"]["dtype"], "F16");
  EXPECT_EQ(header["b_half"]["data_offsets"], nlohmann::json({8, 14}));
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

// Tiny HF-style writer files read back with every tensor intact (F16/BF16 via the test helper).
TEST(Safetensors, TinyModelRoundTrip) {
  const auto w = testing::RandomWeights(testing::TinyConfig(), 11);
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    SCOPED_TRACE(DTypeName(dtype));
    const std::string dir = testing::MakeTempDir(std::string("st-tiny-") + DTypeName(dtype));
    testing::WriteHfFolderAs(w, dir, dtype);
    const SafetensorsFile file(dir + "/model.safetensors");
    EXPECT_EQ(file.tensors().size(), w.tensors.size());
    std::vector<StorageOwner> owners;
    for (const auto& [name, t] : w.tensors) {
      const SafetensorsTensor* st = file.Find(name);
      ASSERT_NE(st, nullptr) << name;
      EXPECT_EQ(st->dtype, dtype);
      const TensorView v = file.ReadF32(*st, owners);
      ASSERT_EQ(v.shape, t.first);
      const float tolerance = dtype == DType::kF32 ? 0.0f : dtype == DType::kF16 ? 1.0f / 1024 : 1.0f / 128;
      for (size_t i = 0; i < t.second.size(); ++i)
        ASSERT_LE(std::fabs(v.data[i] - t.second[i]), tolerance * std::fabs(t.second[i]) + 1e-7f) << name << "[" << i << "]";
    }
  }
}

std::string Write(const std::string& name, const std::string& header, size_t data_bytes) {
  const std::string path = testing::MakeTempDir("st-bad-" + name) + "/x.safetensors";
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = char((uint64_t(header.size()) >> (8 * i)) & 0xff);
  bytes += header + std::string(data_bytes, '\0');
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string ErrorOf(const std::string& path) {
  try {
    SafetensorsFile file(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Safetensors, ValidEdgeCases) {
  EXPECT_EQ(ErrorOf(Write("empty-header", "{}", 0)), "no error");
  EXPECT_EQ(ErrorOf(Write("padded", "{}      ", 0)), "no error");
  // Zero-size tensors may share an offset with others.
  EXPECT_EQ(ErrorOf(Write("zero-size", R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                                       R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                          4)),
            "no error");
}

TEST(Safetensors, RejectsMalformedEntries) {
  const std::pair<std::string, std::string> cases[] = {
      {"not-object", R"([1, 2])"},
      {"entry-not-object", R"({"a": 5})"},
      {"no-dtype", R"({"a":{"shape":[1],"data_offsets":[0,4]}})"},
      {"no-shape", R"({"a":{"dtype":"F32","data_offsets":[0,4]}})"},
      {"one-offset", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}})"},
      {"float-dim", R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})"},
      {"negative-offset", R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})"},
      {"metadata-not-string", R"({"__metadata__":{"n":1}})"},
  };
  for (const auto& [name, header] : cases) {
    const std::string path = Write(name, header, 4);
    const std::string message = ErrorOf(path);
    EXPECT_EQ(message.rfind(path + ": ", 0), 0u) << name << ": " << message;
  }
}

}  // namespace
}  // namespace quip
