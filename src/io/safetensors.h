// Reader and writer for the safetensors format (https://huggingface.co/docs/safetensors):
//   [u64 little-endian N][N bytes of JSON header][data section]
// The header maps tensor names to {dtype, shape, data_offsets: [begin, end)} relative
// to the data section, plus an optional "__metadata__" object of string values.
// Every claim of the header is checked against the file before any byte is used.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/mapped_file.h"
#include "core/tensor.h"

namespace quip {

enum class DType { kF32, kF16, kBF16, kF64, kI8, kU8, kI16, kU16, kI32, kU32, kI64 };

const char* DTypeName(DType dtype);
size_t DTypeSize(DType dtype);

struct SafetensorsTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets into the data section
  uint64_t end = 0;
  int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Maps and validates `path`; throws quip::Error naming the file and the problem.
  explicit SafetensorsFile(const std::string& path);

  const std::string& path() const { return file_->path(); }
  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when absent.
  const SafetensorsTensor* Find(const std::string& name) const;

  // fp32 view of a float tensor: zero-copy for aligned F32, converted copy for
  // F16/BF16 (the copy's owner is appended to `owners`).
  TensorView ReadF32(const SafetensorsTensor& t, std::vector<StorageOwner>& owners) const;
  const uint8_t* RawBytes(const SafetensorsTensor& t) const { return data_ + t.begin; }
  // A BF16 or F16 tensor's bytes, used in place (model/half_linear.h converts them when used):
  // every value checked finite as ReadF32 checks it, then its pages dropped; throws naming the
  // file and tensor otherwise.
  const uint8_t* CheckedHalf(const SafetensorsTensor& t) const;
  // The mapped file, for callers that keep zero-copy views alive.
  std::shared_ptr<const MappedFile> mapping() const { return file_; }

 private:
  std::shared_ptr<const MappedFile> file_;
  const uint8_t* data_ = nullptr;  // start of the data section
  std::vector<SafetensorsTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Collects tensors and writes one safetensors file atomically (temp file + rename).
class SafetensorsWriter {
 public:
  void Add(const std::string& name, DType dtype, std::vector<int64_t> shape, const void* bytes, size_t nbytes);
  void AddF32(const std::string& name, std::vector<int64_t> shape, const float* values);
  void SetMetadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  bool Has(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) return true;
    return false;
  }
  // Calls fn(name, bytes, size) for every tensor added so far.
  template <typename Fn>
  void ForEachTensor(Fn&& fn) const {
    for (const auto& e : entries_) fn(e.name, e.bytes.data(), e.bytes.size());
  }
  void Write(const std::string& path) const;

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace quip
