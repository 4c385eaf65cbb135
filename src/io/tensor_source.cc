#include "io/tensor_source.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "io/json_file.h"

namespace quip {
namespace fs = std::filesystem;

TensorSource::TensorSource(const std::string& dir) {
  const fs::path index = fs::path(dir) / "model.safetensors.index.json";
  const fs::path single = fs::path(dir) / "model.safetensors";
  if (fs::exists(single)) {
    AddFile(single.string());
  } else if (fs::exists(index)) {
    const nlohmann::json j = ReadJsonFile(index.string());
    QUIP_CHECK_INPUT(j.is_object() && j.contains("weight_map") && j["weight_map"].is_object(), index.string(),
                     "missing object 'weight_map'");
    std::set<std::string> shards;
    for (const auto& [name, file] : j["weight_map"].items()) {
      QUIP_CHECK_INPUT(file.is_string(), index.string(), "weight_map entry '{}' is not a file name", name);
      const std::string shard = file.get<std::string>();
      QUIP_CHECK_INPUT(shard.find('/') == std::string::npos && shard.find("..") == std::string::npos,
                       index.string(), "weight_map entry '{}' names a path outside the folder: {}", name, shard);
      QUIP_CHECK_INPUT(std::none_of(shard.begin(), shard.end(), [](char ch) { return (unsigned char)ch < 0x20; }),
                       index.string(), "weight_map entry '{}' names a file with a control character: {}", name,
                       JsonExcerpt(shard));
      shards.insert(shard);
    }
    QUIP_CHECK_INPUT(!shards.empty(), index.string(), "weight_map is empty");
    for (const auto& shard : shards) AddFile((fs::path(dir) / shard).string());
    for (const auto& [name, file] : j["weight_map"].items()) {
      const std::string expected = (fs::path(dir) / file.get<std::string>()).string();
      QUIP_CHECK_INPUT(by_name_.count(name) && by_name_[name].first->path() == expected, index.string(),
                       "tensor '{}' is listed in {} but not stored there", name, file.get<std::string>());
    }
  } else {
    Fail(dir, "no model.safetensors or model.safetensors.index.json in the folder");
  }
}

void TensorSource::AddFile(const std::string& path) {
  auto file = std::make_shared<SafetensorsFile>(path);
  if (first_path_.empty()) first_path_ = path;
  for (const auto& t : file->tensors()) {
    auto [it, inserted] = by_name_.try_emplace(t.name, file.get(), &t);
    QUIP_CHECK_INPUT(inserted, path, "tensor '{}' is also stored in {}", t.name, it->second.first->path());
  }
  files_.push_back(std::move(file));
}

const std::pair<const SafetensorsFile*, const SafetensorsTensor*>& TensorSource::Lookup(
    const std::string& name, const std::vector<int64_t>& shape) {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) Fail(first_path_, "missing tensor '{}'", name);
  const auto& [file, tensor] = it->second;
  QUIP_CHECK_INPUT(tensor->shape == shape, file->path(), "tensor '{}' has shape {} but config.json implies {}", name,
                   ShapeString(tensor->shape), ShapeString(shape));
  used_.insert(name);
  return it->second;
}

void TensorSource::CheckAllUsed() const {
  std::vector<std::string> unused;
  const SafetensorsFile* first_file = nullptr;
  for (const auto& file : files_)
    for (const auto& t : file->tensors())
      if (!used_.count(t.name)) {
        if (unused.empty()) first_file = file.get();
        unused.push_back("'" + t.name + "'");
      }
  if (unused.empty()) return;
  constexpr size_t kNamed = 4;
  const size_t named = std::min(unused.size(), kNamed);
  std::string list;
  for (size_t i = 0; i < named; ++i) list += (i ? ", " : "") + unused[i];
  if (unused.size() > named) list += fmt::format(", ... ({} more)", unused.size() - named);
  Fail(first_file->path(),
       "{} stored tensor{} not used by the model config.json describes: {}; config.json (e.g. num_hidden_layers, "
       "tie_word_embeddings) and the weights disagree",
       unused.size(), unused.size() == 1 ? " is" : "s are", list);
}

TensorView TensorSource::Get(const std::string& name, const std::vector<int64_t>& shape, Model& model) {
  const auto& [file, tensor] = Lookup(name, shape);
  model.tensors.push_back({name, DTypeName(tensor->dtype), tensor->shape, int64_t(tensor->end - tensor->begin)});
  return file->ReadF32(*tensor, model.owners);
}

const uint8_t* TensorSource::GetHalf(const std::string& name, const std::vector<int64_t>& shape, Model& model) {
  const auto& [file, tensor] = Lookup(name, shape);
  model.tensors.push_back({name, DTypeName(tensor->dtype), tensor->shape, int64_t(tensor->end - tensor->begin)});
  model.owners.push_back(file->mapping());
  return file->CheckedHalf(*tensor);
}

const uint8_t* TensorSource::GetRaw(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                                    Model& model) {
  const auto& [file, tensor] = Lookup(name, shape);
  QUIP_CHECK_INPUT(tensor->dtype == dtype, file->path(), "tensor '{}' has dtype {}, expected {}", name,
                   DTypeName(tensor->dtype), DTypeName(dtype));
  model.tensors.push_back({name, DTypeName(tensor->dtype), tensor->shape, int64_t(tensor->end - tensor->begin)});
  model.owners.push_back(file->mapping());
  return file->RawBytes(*tensor);
}

}  // namespace quip
