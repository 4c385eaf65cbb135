// UTF-8 helpers for the tokenizers: code points in and out, repair of invalid bytes,
// and GPT-2's byte <-> printable-character map used by byte-level BPE vocabularies.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace quip::utf8 {

// Length of the (valid) UTF-8 character starting with byte `lead`: 1..4.
inline size_t CharLength(unsigned char lead) {
  return lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : 4;
}

// The code point at s[i] of valid UTF-8; `len` receives its byte count.
char32_t DecodeAt(std::string_view s, size_t i, size_t* len);
void Append(std::string& out, char32_t cp);

// `text` with every invalid sequence replaced by U+FFFD, one per maximal subpart (the
// Unicode / WHATWG rule that JavaScript's TextDecoder and Rust's from_utf8_lossy follow).
std::string ReplaceInvalid(std::string_view text);

// GPT-2's bytes_to_unicode(): each byte as a printable code point (the vocabulary
// spelling of byte-level BPE tokens, e.g. ' ' -> U+0120 'Ġ').
const std::array<char32_t, 256>& ByteToUnicode();
// The inverse: -1 for a code point that stands for no byte.
int UnicodeToByte(char32_t cp);

}  // namespace quip::utf8
