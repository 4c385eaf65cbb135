// Checksums of the tensors of a quip folder (XXH3-64, from libxxhash), so that a flipped
// byte or an edited seed or bit width is an error at load instead of a different model.
// Stored in the safetensors __metadata__ under "quip.checksums" as JSON
// {tensor name: 16 lowercase hex digits}. A "<linear>.codes" tensor's checksum also covers
// that linear's entry in "quip.linears" (its canonical JSON dump), whose bits, codebook,
// incoherence and seeds decide how the codes are read. Folders written before checksums
// existed have no key and load unchecked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace quip {

class SafetensorsWriter;
class TensorSource;

inline constexpr const char* kChecksumsKey = "quip.checksums";

// Checksum of tensor `name` stored as `bytes`, given the folder's "quip.linears" object.
std::string TensorChecksum(const std::string& name, const uint8_t* bytes, size_t size, const nlohmann::json& linears);

// {name: checksum} of every tensor added to `writer`.
nlohmann::json ChecksumsOf(const SafetensorsWriter& writer, const nlohmann::json& linears);

// Checks every stored tensor of a quip folder against its "quip.checksums" entry (nothing
// when the key is absent). Throws naming the file and the first tensor that fails.
void VerifyChecksums(const TensorSource& source);

}  // namespace quip
