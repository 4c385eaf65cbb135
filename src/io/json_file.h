// Reads JSON from untrusted files, turning every failure into quip::Error naming the file.
// All of quip's JSON (config.json, index files, safetensors headers, quip metadata) goes
// through ParseJson, which also rejects what nlohmann::json would accept silently or
// dangerously: NUL bytes (nlohmann stops at the first one, so "{}\0<anything>" would parse
// as {}), nesting deeper than kMaxJsonDepth (recursive dumps and destructors), and, when
// asked, duplicate keys in the top-level object (nlohmann keeps the last one).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace quip {

inline constexpr int kMaxJsonDepth = 64;

// Parses `text`; errors read "<where>: <what> <problem>", e.g. "x.json: not valid JSON: ...".
nlohmann::json ParseJson(std::string_view text, const std::string& where, const std::string& what = "",
                         bool reject_duplicate_top_level_keys = false);

nlohmann::json ReadJsonFile(const std::string& path);
// The whole file; fails naming the file when it is missing, not a regular file or unreadable.
std::string ReadWholeFile(const std::string& path);

// A JSON value for an error message: compact, at most `max_chars` characters.
std::string JsonExcerpt(const nlohmann::json& value, size_t max_chars = 80);

}  // namespace quip
