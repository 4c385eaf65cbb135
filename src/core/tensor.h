// Non-owning view of a contiguous row-major fp32 tensor, plus the owner that
// keeps its bytes alive (a memory map or a heap buffer). Views are cheap to
// copy; weights are never duplicated by passing them around.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace quip {

struct TensorView {
  const float* data = nullptr;
  std::vector<int64_t> shape;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  int64_t cols() const { return shape.size() < 2 ? 1 : shape[1]; }
  const float* row(int64_t r) const { return data + r * cols(); }
};

std::string ShapeString(const std::vector<int64_t>& shape);

// Anything that owns tensor memory (MappedFile, std::vector<float>, ...).
using StorageOwner = std::shared_ptr<const void>;

// Moves `values` to the heap and returns a view of it together with its owner.
TensorView OwnFloats(std::vector<float> values, std::vector<int64_t> shape, std::vector<StorageOwner>& owners);

}  // namespace quip
