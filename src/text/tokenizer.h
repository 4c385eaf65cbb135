// Text <-> token ids. Two implementations: SentencePiece models (Hugging Face
// tokenizer.model) and llama2.c's tokenizer.bin format (e.g. tok512.bin).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace quip {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Token ids of `text`, without BOS.
  virtual std::vector<int> Encode(std::string_view text) const = 0;
  // Raw bytes of one token: the word-boundary marker becomes ' ', byte-fallback
  // tokens become their byte, control tokens (BOS, EOS, ...) become "".
  virtual std::string TokenBytes(int id) const = 0;
  virtual int vocab_size() const = 0;

  // Bytes to print after `prev`: a token that follows BOS loses its leading space
  // (the dummy prefix added by Encode), as SentencePiece decoding does.
  std::string Piece(int prev, int id, int bos_id) const;
  // Decoded text of a sequence (starting after BOS).
  std::string Decode(const std::vector<int>& ids, int bos_id) const;
};

// Loads tokenizer.model (SentencePiece) or a llama2.c tokenizer .bin; for the latter
// `vocab_size` comes from the model since the file does not store it.
// Texts longer than `chunk_bytes` are encoded in pieces when that is exact (see
// sentencepiece_tokenizer.cc); tests pass a small value to check the equivalence.
std::unique_ptr<Tokenizer> LoadSentencePieceTokenizer(const std::string& path, size_t chunk_bytes = 256 << 10);
std::unique_ptr<Tokenizer> LoadLlama2cTokenizer(const std::string& path, int vocab_size);

}  // namespace quip
