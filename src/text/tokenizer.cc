#include "text/tokenizer.h"

namespace quip {

std::string Tokenizer::Piece(int prev, int id, int bos_id) const {
  std::string bytes = TokenBytes(id);
  if (prev == bos_id && StripsLeadingSpace() && !bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
  return bytes;
}

std::string Tokenizer::Decode(const std::vector<int>& ids, int bos_id, bool special_text) const {
  std::string text;
  int prev = bos_id;
  for (int id : ids) {
    const std::string special = special_text ? SpecialText(id) : "";
    text += special.empty() ? Piece(prev, id, bos_id) : special;
    prev = id;
  }
  return text;
}

}  // namespace quip
