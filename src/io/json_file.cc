#include "io/json_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"

namespace quip {

std::string ReadWholeFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) Fail(path, "cannot open: {}", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) Fail(path, "not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) Fail(path, "cannot open: {}", std::strerror(errno));
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) Fail(path, "read error");
  return contents.str();
}

nlohmann::json ParseJson(std::string_view text, const std::string& where, const std::string& what,
                         bool reject_duplicate_top_level_keys) {
  // "<what> is not valid JSON", or just "not valid JSON" for a whole file.
  const std::string is = what.empty() ? "" : what + " is ";
  const std::string has = what.empty() ? "" : what + " has ";
  if (const void* nul = std::memchr(text.data(), '\0', text.size()))
    Fail(where, "{}not valid JSON: NUL byte at offset {}", is,
         static_cast<const char*>(nul) - text.data());
  std::set<std::string> top_keys;
  const nlohmann::json::parser_callback_t check = [&](int depth, nlohmann::json::parse_event_t event,
                                                      nlohmann::json& parsed) {
    if (depth > kMaxJsonDepth) Fail(where, "{}nested deeper than {} levels", is, kMaxJsonDepth);
    if (reject_duplicate_top_level_keys && depth == 1 && event == nlohmann::json::parse_event_t::key &&
        !top_keys.insert(parsed.get<std::string>()).second)
      Fail(where, "{}a duplicate key {}", has.empty() ? "has " : has, JsonExcerpt(parsed));
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), check);
  } catch (const nlohmann::json::exception& e) {
    Fail(where, "{}not valid JSON: {}", is, e.what());
  }
}

nlohmann::json ReadJsonFile(const std::string& path) { return ParseJson(ReadWholeFile(path), path); }

std::string JsonExcerpt(const nlohmann::json& value, size_t max_chars) {
  std::string s = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (s.size() > max_chars) s = s.substr(0, max_chars) + "...";
  return s;
}

}  // namespace quip
