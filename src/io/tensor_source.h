// Every tensor of a Hugging Face checkpoint folder by name, whether it is one
// model.safetensors or shards listed in model.safetensors.index.json.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/model.h"

namespace quip {

class TensorSource {
 public:
  explicit TensorSource(const std::string& dir);

  // Tensor `name` as fp32 with exactly `shape`, recorded in model.tensors and kept
  // alive by model.owners; throws naming the file otherwise.
  TensorView Get(const std::string& name, const std::vector<int64_t>& shape, Model& model);
  // Raw bytes of tensor `name`, which must have `dtype` and `shape`.
  const uint8_t* GetRaw(const std::string& name, DType dtype, const std::vector<int64_t>& shape, Model& model);
  // Tensor `name` (BF16 or F16, exactly `shape`) in place, checked finite (SafetensorsFile::CheckedHalf),
  // recorded and kept alive like Get's.
  const uint8_t* GetHalf(const std::string& name, const std::vector<int64_t>& shape, Model& model);
  bool Has(const std::string& name) const { return by_name_.count(name) > 0; }
  // Whether tensor `name` is stored in 16 bits (BF16 or F16).
  bool IsHalf(const std::string& name) const {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return false;
    const DType dtype = it->second.second->dtype;
    return dtype == DType::kBF16 || dtype == DType::kF16;
  }
  // Shape of tensor `name` as stored, or nullptr when absent.
  const std::vector<int64_t>* ShapeOf(const std::string& name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &it->second.second->shape;
  }
  // Throws naming the unused tensors (the first few and their count) unless every stored
  // tensor was read by Get/GetRaw: a config.json that describes fewer layers (or no
  // lm_head) than the files hold would otherwise silently drop them.
  void CheckAllUsed() const;
  // Every file, in the order they were opened.
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }
  // The safetensors metadata of the first file (quip writes one file).
  const std::map<std::string, std::string>& metadata() const { return files_.front()->metadata(); }
  const std::string& first_path() const { return first_path_; }

 private:
  void AddFile(const std::string& path);
  const std::pair<const SafetensorsFile*, const SafetensorsTensor*>& Lookup(const std::string& name,
                                                                          const std::vector<int64_t>& shape);

  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<const SafetensorsFile*, const SafetensorsTensor*>> by_name_;
  std::string first_path_;
  std::set<std::string> used_;
};

}  // namespace quip
