#include "train/checkpoint.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_file.h"
#include "io/safetensors.h"

namespace quip::train {
namespace {
constexpr const char* kKind = "quip.finetune_checkpoint";
const char* const kParts[] = {"value", "adam_m", "adam_v", "best"};
}  // namespace

void WriteCheckpoint(const std::string& path, const FinetuneCheckpoint& c) {
  SafetensorsWriter writer;
  const std::vector<std::vector<float>>* parts[] = {&c.value, &c.m, &c.v, &c.best};
  for (size_t i = 0; i < c.names.size(); ++i)
    for (int p = 0; p < 4; ++p)
      writer.AddF32(std::string(kParts[p]) + "/" + c.names[i], {int64_t((*parts[p])[i].size())},
                    (*parts[p])[i].data());
  const nlohmann::json state{{"fingerprint", c.fingerprint}, {"step", c.step},
                             {"names", c.names},             {"valid_kl_before", c.valid_kl_before},
                             {"valid_kl_best", c.valid_kl_best}, {"best_step", c.best_step},
                             {"train_loss", c.train_loss}};
  writer.SetMetadata(kKind, state.dump());
  writer.Write(path);
}

FinetuneCheckpoint ReadCheckpoint(const std::string& path) {
  const SafetensorsFile file(path);
  QUIP_CHECK_INPUT(file.metadata().count(kKind), path, "is not a quip fine-tuning checkpoint (no '{}' metadata)",
                   kKind);
  const nlohmann::json state = ParseJson(file.metadata().at(kKind), path, kKind);
  FinetuneCheckpoint c;
  try {
    c.fingerprint = state.at("fingerprint").get<std::string>();
    c.step = state.at("step").get<int>();
    c.names = state.at("names").get<std::vector<std::string>>();
    c.valid_kl_before = state.at("valid_kl_before").get<double>();
    c.valid_kl_best = state.at("valid_kl_best").get<double>();
    c.best_step = state.at("best_step").get<int>();
    c.train_loss = state.at("train_loss").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    Fail(path, "'{}' metadata is malformed: {}", kKind, e.what());
  }
  std::vector<std::vector<float>>* parts[] = {&c.value, &c.m, &c.v, &c.best};
  std::vector<StorageOwner> owners;
  for (const std::string& name : c.names)
    for (int p = 0; p < 4; ++p) {
      const SafetensorsTensor* t = file.Find(std::string(kParts[p]) + "/" + name);
      QUIP_CHECK_INPUT(t != nullptr && t->dtype == DType::kF32 && t->shape.size() == 1, path,
                       "lacks the F32 vector '{}/{}'", kParts[p], name);
      const TensorView view = file.ReadF32(*t, owners);
      parts[p]->emplace_back(view.data, view.data + view.numel());
    }
  return c;
}

}  // namespace quip::train
