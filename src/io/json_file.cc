#include "io/json_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace quip {

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(path, "cannot open: {}", std::strerror(errno));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) Fail(path, "read error");
  return contents.str();
}

nlohmann::json ReadJsonFile(const std::string& path) {
  const std::string text = ReadWholeFile(path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    Fail(path, "not valid JSON: {}", e.what());
  }
}

}  // namespace quip
