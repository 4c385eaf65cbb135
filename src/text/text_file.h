// Reads an evaluation or calibration text: must exist, be non-empty and valid UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace quip {

std::string ReadTextFile(const std::string& path);

// Byte offset of the first invalid UTF-8 sequence, or -1 if `text` is valid.
long FindInvalidUtf8(std::string_view text);

}  // namespace quip
