#include "io/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/half.h"
#include "io/atomic_file.h"
#include "io/json_file.h"

namespace quip {
namespace {

// A header larger than this is not a real model header (HF uses the same 100 MB bound).
constexpr uint64_t kMaxHeaderBytes = 100u << 20;
// Real tensors have at most 4-5 dimensions.
constexpr size_t kMaxRank = 8;

struct DTypeInfo {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2}, {DType::kF64, "F64", 8},
    {DType::kI8, "I8", 1},   {DType::kU8, "U8", 1},   {DType::kI16, "I16", 2},   {DType::kU16, "U16", 2},
    {DType::kI32, "I32", 4}, {DType::kU32, "U32", 4}, {DType::kI64, "I64", 8},
};

const DTypeInfo& Info(DType dtype) {
  for (const auto& info : kDTypes)
    if (info.dtype == dtype) return info;
  throw Error("internal error: unknown DType");
}

const DTypeInfo* ParseDType(const std::string& name) {
  for (const auto& info : kDTypes)
    if (name == info.name) return &info;
  return nullptr;
}

uint64_t ReadU64LE(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

const char* DTypeName(DType dtype) { return Info(dtype).name; }
size_t DTypeSize(DType dtype) { return Info(dtype).size; }

int64_t SafetensorsTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(std::make_shared<MappedFile>(path)) {
  const uint64_t file_size = file_->size();
  QUIP_CHECK_INPUT(file_size >= 8, path, "file is {} bytes, too short for the 8-byte safetensors header length",
                   file_size);
  const uint64_t header_len = ReadU64LE(file_->data());
  QUIP_CHECK_INPUT(header_len > 0, path, "safetensors header length is 0");
  QUIP_CHECK_INPUT(header_len <= kMaxHeaderBytes, path, "safetensors header length {} exceeds the {} byte limit",
                   header_len, kMaxHeaderBytes);
  QUIP_CHECK_INPUT(header_len <= file_size - 8, path,
                   "safetensors header length {} runs past the end of the file ({} bytes)", header_len, file_size);
  data_ = file_->data() + 8 + header_len;
  const uint64_t data_size = file_size - 8 - header_len;

  // Duplicate tensor names are rejected: nlohmann would keep the last entry silently.
  const nlohmann::json header =
      ParseJson(std::string_view(reinterpret_cast<const char*>(file_->data()) + 8, header_len), path,
                "safetensors header", /*reject_duplicate_top_level_keys=*/true);
  QUIP_CHECK_INPUT(header.is_object(), path, "safetensors header is not a JSON object");

  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      QUIP_CHECK_INPUT(value.is_object(), path, "__metadata__ is not an object");
      for (const auto& [mk, mv] : value.items()) {
        QUIP_CHECK_INPUT(mv.is_string(), path, "__metadata__ value for '{}' is not a string", mk);
        metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    // Names end up in messages and lookups: no control characters (a NUL would cut a
    // message short, a newline would split it).
    QUIP_CHECK_INPUT(std::none_of(key.begin(), key.end(), [](char ch) { return (unsigned char)ch < 0x20; }), path,
                     "tensor name {} contains a control character", JsonExcerpt(key));
    const std::string where = path + ": tensor '" + key + "'";
    QUIP_CHECK_INPUT(value.is_object(), where, "entry is not an object");
    QUIP_CHECK_INPUT(value.contains("dtype") && value["dtype"].is_string(), where, "missing dtype");
    QUIP_CHECK_INPUT(value.contains("shape") && value["shape"].is_array(), where, "missing shape");
    QUIP_CHECK_INPUT(value.contains("data_offsets") && value["data_offsets"].is_array() &&
                         value["data_offsets"].size() == 2,
                     where, "data_offsets must be a list of two integers");
    const DTypeInfo* info = ParseDType(value["dtype"].get<std::string>());
    QUIP_CHECK_INPUT(info != nullptr, where, "unsupported dtype '{}' (supported: F32 F16 BF16 F64 I8 U8 I16 U16 I32 U32 I64)",
                     value["dtype"].get<std::string>().substr(0, 40));
    SafetensorsTensor t;
    t.name = key;
    t.dtype = info->dtype;
    const std::string shape_text = JsonExcerpt(value["shape"]);
    QUIP_CHECK_INPUT(value["shape"].size() <= kMaxRank, where, "shape has {} dimensions (at most {} supported)",
                     value["shape"].size(), kMaxRank);
    // A zero dimension makes the tensor empty whatever the others claim; the bound below
    // still applies to every dimension so that the product cannot overflow.
    uint64_t numel = 1, bound = 1;
    for (const auto& d : value["shape"]) {
      QUIP_CHECK_INPUT(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), where,
                       "shape {} has a negative or non-integer dimension", shape_text);
      const uint64_t dim = d.get<uint64_t>();
      // Bound the element count by the data section so the product cannot overflow.
      QUIP_CHECK_INPUT(dim == 0 || bound <= data_size / dim, where,
                       "shape {} has more elements than the data section holds ({} bytes)", shape_text, data_size);
      if (dim != 0) bound *= dim;
      numel *= dim;
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    for (const auto& o : value["data_offsets"])
      QUIP_CHECK_INPUT(o.is_number_unsigned() || (o.is_number_integer() && o.get<int64_t>() >= 0), where,
                       "data_offsets {} are not non-negative integers", JsonExcerpt(value["data_offsets"]));
    t.begin = value["data_offsets"][0].get<uint64_t>();
    t.end = value["data_offsets"][1].get<uint64_t>();
    QUIP_CHECK_INPUT(t.begin <= t.end && t.end <= data_size, where,
                     "data_offsets [{}, {}) are out of range of the {}-byte data section", t.begin, t.end, data_size);
    QUIP_CHECK_INPUT(t.end - t.begin == numel * info->size, where,
                     "data_offsets cover {} bytes but shape {} of {} needs {}", t.end - t.begin, shape_text,
                     info->name, numel * info->size);
    tensors_.push_back(std::move(t));
  }

  // Overlapping tensors would alias each other's bytes: reject them.
  std::vector<const SafetensorsTensor*> by_offset;
  for (const auto& t : tensors_) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const SafetensorsTensor* a, const SafetensorsTensor* b) { return a->begin < b->begin; });
  // Compare each tensor with the non-empty one reaching furthest so far (an empty tensor
  // in between must not hide an overlap).
  const SafetensorsTensor* reach = nullptr;
  for (const SafetensorsTensor* cur : by_offset) {
    if (cur->begin == cur->end) continue;
    QUIP_CHECK_INPUT(reach == nullptr || cur->begin >= reach->end, path,
                     "tensors '{}' and '{}' overlap in the data section", reach->name, cur->name);
    reach = cur;
  }
}

const SafetensorsTensor* SafetensorsFile::Find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

TensorView SafetensorsFile::ReadF32(const SafetensorsTensor& t, std::vector<StorageOwner>& owners) const {
  const uint8_t* src = RawBytes(t);
  const int64_t n = t.numel();
  // The check (and a conversion) reads every page of the tensor; they are dropped after it, so
  // that loading a model leaves none of its mapped weights resident: a caller that runs the
  // model a block at a time (train/teacher_targets.h) then holds one block, not the model.
  if (t.dtype == DType::kF32 && reinterpret_cast<uintptr_t>(src) % alignof(float) == 0) {
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(reinterpret_cast<const float*>(src)[i]))
        Fail(path(), "tensor '{}' holds a non-finite value (NaN or Inf) at element {}", t.name, i);
    ReleaseMappedPages(src, t.end - t.begin);
    owners.push_back(file_);
    return TensorView{reinterpret_cast<const float*>(src), t.shape};
  }
  std::vector<float> values(static_cast<size_t>(n));
  // NaN or Inf in a weight would silently turn every logit into NaN: reject it here,
  // naming the tensor, for every float dtype (F32 included).
  auto check_finite = [&](const float* v) {
    for (int64_t i = 0; i < n; ++i)
      if (!std::isfinite(v[i]))
        Fail(path(), "tensor '{}' holds a non-finite value (NaN or Inf) at element {}", t.name, i);
  };
  switch (t.dtype) {
    case DType::kF32:
      std::memcpy(values.data(), src, n * sizeof(float));
      break;
    case DType::kF16:
    case DType::kBF16:
      HalfToFloats(src, t.dtype == DType::kBF16, n, values.data());
      break;
    default:
      Fail(path(), "tensor '{}' has dtype {}, expected a float type (F32, F16, BF16)", t.name, DTypeName(t.dtype));
  }
  ReleaseMappedPages(src, t.end - t.begin);
  check_finite(values.data());
  return OwnFloats(std::move(values), t.shape, owners);
}

const uint8_t* SafetensorsFile::CheckedHalf(const SafetensorsTensor& t) const {
  QUIP_CHECK_INPUT(t.dtype == DType::kBF16 || t.dtype == DType::kF16, path(),
                   "tensor '{}' has dtype {}, expected BF16 or F16", t.name, DTypeName(t.dtype));
  const uint8_t* src = RawBytes(t);
  const int64_t n = t.numel();
  std::vector<float> chunk(std::min<int64_t>(n, 4096));
  for (int64_t first = 0; first < n; first += int64_t(chunk.size())) {
    const int64_t len = std::min<int64_t>(int64_t(chunk.size()), n - first);
    HalfToFloats(src + 2 * first, t.dtype == DType::kBF16, len, chunk.data());
    for (int64_t i = 0; i < len; ++i)
      if (!std::isfinite(chunk[i]))
        Fail(path(), "tensor '{}' holds a non-finite value (NaN or Inf) at element {}", t.name, first + i);
  }
  ReleaseMappedPages(src, t.end - t.begin);
  return src;
}

void SafetensorsWriter::Add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* bytes,
                            size_t nbytes) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  QUIP_ASSERT(static_cast<size_t>(numel) * DTypeSize(dtype) == nbytes);
  const auto* p = static_cast<const uint8_t*>(bytes);
  entries_.push_back({name, dtype, std::move(shape), std::vector<uint8_t>(p, p + nbytes)});
}

void SafetensorsWriter::AddF32(const std::string& name, std::vector<int64_t> shape, const float* values) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  Add(name, DType::kF32, std::move(shape), values, numel * sizeof(float));
}

void SafetensorsWriter::Write(const std::string& path) const {
  // Wider dtypes first keeps every tensor naturally aligned (the header is padded to 8).
  std::vector<const Entry*> order;
  for (const auto& e : entries_) order.push_back(&e);
  std::stable_sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    if (DTypeSize(a->dtype) != DTypeSize(b->dtype)) return DTypeSize(a->dtype) > DTypeSize(b->dtype);
    return a->name < b->name;
  });
  nlohmann::ordered_json header;
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const Entry* e : order) {
    header[e->name] = {{"dtype", DTypeName(e->dtype)}, {"shape", e->shape}, {"data_offsets", {offset, offset + e->bytes.size()}}};
    offset += e->bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  AtomicFile out(path);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(static_cast<uint64_t>(text.size()) >> (8 * i));
  out.Write(len, 8);
  out.Write(text.data(), text.size());
  for (const Entry* e : order) out.Write(e->bytes.data(), e->bytes.size());
  out.Commit();
}

}  // namespace quip
