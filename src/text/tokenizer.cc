#include "text/tokenizer.h"

namespace quip {

std::string Tokenizer::Piece(int prev, int id, int bos_id) const {
  std::string bytes = TokenBytes(id);
  if (prev == bos_id && !bytes.empty() && bytes[0] == ' ') bytes.erase(0, 1);
  return bytes;
}

std::string Tokenizer::Decode(const std::vector<int>& ids, int bos_id) const {
  std::string text;
  int prev = bos_id;
  for (int id : ids) {
    text += Piece(prev, id, bos_id);
    prev = id;
  }
  return text;
}

}  // namespace quip
