#include "text/text_file.h"

#include "core/error.h"
#include "io/json_file.h"

namespace quip {

long FindInvalidUtf8(std::string_view text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned c = s[i];
    size_t len;
    unsigned min_cp, cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2, min_cp = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, min_cp = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, min_cp = 0x10000, cp = c & 0x07;
    } else {
      return long(i);
    }
    if (i + len > n) return long(i);
    for (size_t k = 1; k < len; ++k) {
      if ((s[i + k] & 0xC0) != 0x80) return long(i);
      cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are invalid.
    if (cp < min_cp || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return long(i);
    i += len;
  }
  return -1;
}

std::string ReadTextFile(const std::string& path) {
  std::string text = ReadWholeFile(path);
  QUIP_CHECK_INPUT(!text.empty(), path, "text file is empty");
  const long bad = FindInvalidUtf8(text);
  QUIP_CHECK_INPUT(bad < 0, path, "text is not valid UTF-8 (first bad byte at offset {})", bad);
  return text;
}

}  // namespace quip
