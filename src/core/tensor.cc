#include "core/tensor.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace quip {

std::string ShapeString(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

TensorView OwnFloats(std::vector<float> values, std::vector<int64_t> shape, std::vector<StorageOwner>& owners) {
  auto buffer = std::make_shared<const std::vector<float>>(std::move(values));
  TensorView view{buffer->data(), std::move(shape)};
  owners.push_back(buffer);
  return view;
}

}  // namespace quip
