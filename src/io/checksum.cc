#include "io/checksum.h"

#include <xxhash.h>

#include <fmt/format.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "io/hf_model.h"
#include "io/json_file.h"
#include "io/safetensors.h"
#include "io/tensor_source.h"

namespace quip {
namespace {

constexpr std::string_view kCodesSuffix = ".codes";

// The metadata that decides how tensor `name` is read: the linear's "quip.linears" entry
// for its codes, nothing for every other tensor.
std::string MetadataCoveredBy(const std::string& name, const nlohmann::json& linears) {
  if (name.size() <= kCodesSuffix.size() || name.compare(name.size() - kCodesSuffix.size(), kCodesSuffix.size(),
                                                         kCodesSuffix) != 0)
    return "";
  const std::string linear = name.substr(0, name.size() - kCodesSuffix.size());
  if (!linears.is_object() || !linears.contains(linear)) return "";
  return linears[linear].dump();  // nlohmann::json keeps object keys sorted: canonical
}

}  // namespace

std::string TensorChecksum(const std::string& name, const uint8_t* bytes, size_t size, const nlohmann::json& linears) {
  const std::string metadata = MetadataCoveredBy(name, linears);
  XXH3_state_t* state = XXH3_createState();
  QUIP_ASSERT(state != nullptr);
  XXH3_64bits_reset(state);
  XXH3_64bits_update(state, metadata.data(), metadata.size());
  XXH3_64bits_update(state, bytes, size);
  const XXH64_hash_t hash = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return fmt::format("{:016x}", hash);
}

nlohmann::json ChecksumsOf(const SafetensorsWriter& writer, const nlohmann::json& linears) {
  nlohmann::json sums = nlohmann::json::object();
  writer.ForEachTensor([&](const std::string& name, const uint8_t* bytes, size_t size) {
    sums[name] = TensorChecksum(name, bytes, size, linears);
  });
  return sums;
}

void VerifyChecksums(const TensorSource& source) {
  const auto& meta = source.metadata();
  if (!meta.count(kChecksumsKey)) return;  // written before checksums existed
  const std::string& first = source.first_path();
  const nlohmann::json sums = ParseJson(meta.at(kChecksumsKey), first, fmt::format("__metadata__ '{}'", kChecksumsKey));
  QUIP_CHECK_INPUT(sums.is_object(), first, "__metadata__ '{}' is not a JSON object", kChecksumsKey);
  nlohmann::json linears = nlohmann::json::object();
  if (meta.count("quip.linears"))
    linears = ParseJson(meta.at("quip.linears"), first, "__metadata__ 'quip.linears'");
  size_t checked = 0;
  for (const auto& file : source.files()) {
    for (const auto& t : file->tensors()) {
      QUIP_CHECK_INPUT(sums.contains(t.name) && sums[t.name].is_string(), file->path(),
                       "tensor '{}' has no checksum in __metadata__ '{}': the file was edited", t.name, kChecksumsKey);
      const std::string stored = sums[t.name].get<std::string>();
      const std::string computed = TensorChecksum(t.name, file->RawBytes(t), size_t(t.end - t.begin), linears);
      // Read for the sum only: dropped until the model uses them (core/mapped_file.h).
      ReleaseMappedPages(file->RawBytes(t), size_t(t.end - t.begin));
      QUIP_CHECK_INPUT(stored == computed, file->path(),
                       "tensor '{}' fails its checksum (stored {}, computed {}{}): the file is corrupt or was edited",
                       t.name, JsonExcerpt(stored), computed,
                       MetadataCoveredBy(t.name, linears).empty() ? "" : ", over its data and its entry in quip.linears");
      ++checked;
    }
  }
  QUIP_CHECK_INPUT(checked == sums.size(), first, "__metadata__ '{}' lists {} tensors but the file holds {}",
                   kChecksumsKey, sums.size(), checked);
}

std::string ConfigChecksum(const LlamaConfig& config) {
  const std::string canonical = HfConfigJson(config);
  return fmt::format("{:016x}", XXH3_64bits(canonical.data(), canonical.size()));
}

void VerifyConfigChecksum(const TensorSource& source, const LlamaConfig& config, const std::string& config_path) {
  const auto& meta = source.metadata();
  if (!meta.count(kConfigChecksumKey)) return;  // written before config checksums existed
  QUIP_CHECK_INPUT(meta.at(kConfigChecksumKey) == ConfigChecksum(config), config_path,
                   "describes another model than the one {} was quantized from (its checksum, in __metadata__ "
                   "'{}', does not match): a field that changes the math was edited",
                   source.first_path(), kConfigChecksumKey);
}

}  // namespace quip
