// Reads a JSON file, turning every failure into quip::Error naming the file.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace quip {

nlohmann::json ReadJsonFile(const std::string& path);
std::string ReadWholeFile(const std::string& path);

}  // namespace quip
