// Checksums of the tensors of a quip folder (XXH3-64, from libxxhash), so that a flipped
// byte or an edited seed or bit width is an error at load instead of a different model.
// Stored in the safetensors __metadata__ under "quip.checksums" as JSON
// {tensor name: 16 lowercase hex digits}. A "<linear>.codes" tensor's checksum also covers
// that linear's entry in "quip.linears" (its canonical JSON dump), whose bits, codebook,
// incoherence and seeds decide how the codes are read. Folders written before checksums
// existed have no key and load unchecked.
//
// The folder's config.json is covered too: "quip.config_checksum" is the checksum of the
// configuration as the loader understands it (HfConfigJson of the parsed config), so an edited
// field that changes the math (rms_norm_eps, rope_theta, ...) is an error, while fields the
// loader ignores (torch_dtype, comments) may change freely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace quip {

class SafetensorsWriter;
class TensorSource;
struct LlamaConfig;

inline constexpr const char* kChecksumsKey = "quip.checksums";
inline constexpr const char* kConfigChecksumKey = "quip.config_checksum";

// Checksum of tensor `name` stored as `bytes`, given the folder's "quip.linears" object.
std::string TensorChecksum(const std::string& name, const uint8_t* bytes, size_t size, const nlohmann::json& linears);

// {name: checksum} of every tensor added to `writer`.
nlohmann::json ChecksumsOf(const SafetensorsWriter& writer, const nlohmann::json& linears);

// Checks every stored tensor of a quip folder against its "quip.checksums" entry (nothing
// when the key is absent). Throws naming the file and the first tensor that fails.
void VerifyChecksums(const TensorSource& source);

// Checksum of `config` in its canonical form (HfConfigJson).
std::string ConfigChecksum(const LlamaConfig& config);

// Checks the parsed `config` (read from `config_path`) against the folder's
// "quip.config_checksum" (nothing when the key is absent).
void VerifyConfigChecksum(const TensorSource& source, const LlamaConfig& config, const std::string& config_path);

}  // namespace quip
