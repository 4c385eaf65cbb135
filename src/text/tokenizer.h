// Text <-> token ids. Three implementations: Hugging Face tokenizer.json (BPE, byte-level
// or with byte fallback), SentencePiece models (tokenizer.model) and llama2.c's
// tokenizer.bin format (e.g. tok512.bin).
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
  // The text of a special (control) token, e.g. "<|im_end|>"; "" for other tokens.
  virtual std::string SpecialText(int id) const { return ""; }
  // The ids the tokenizer's own convention puts before / after Encode(text): what
  // Hugging Face's encode(text) adds (a BOS for Llama and Gemma, nothing for Qwen).
  virtual std::vector<int> PrefixIds() const { return {}; }
  virtual std::vector<int> SuffixIds() const { return {}; }
  // Whether decoding drops the first token's leading space, the dummy prefix Encode
  // added (SentencePiece with add_dummy_prefix; not byte-level BPE, not Gemma).
  virtual bool StripsLeadingSpace() const { return true; }

  // Bytes to print after `prev`: a token that follows BOS loses its leading space
  // (the dummy prefix added by Encode), as SentencePiece decoding does.
  std::string Piece(int prev, int id, int bos_id) const;
  // Decoded text of a sequence (starting after BOS); with `special_text`, special tokens
  // are written as their text instead of "".
  std::string Decode(const std::vector<int>& ids, int bos_id, bool special_text = false) const;
};

// Loads tokenizer.model (SentencePiece) or a llama2.c tokenizer .bin; for the latter
// `vocab_size` comes from the model since the file does not store it.
// Texts longer than `chunk_bytes` are encoded in pieces when that is exact (see
// sentencepiece_tokenizer.cc); tests pass a small value to check the equivalence.
std::unique_ptr<Tokenizer> LoadSentencePieceTokenizer(const std::string& path, size_t chunk_bytes = 256 << 10);
std::unique_ptr<Tokenizer> LoadLlama2cTokenizer(const std::string& path, int vocab_size);
// Hugging Face tokenizer.json, with the tokenizer_config.json beside it when present
// (its add_bos_token / add_eos_token).
std::unique_ptr<Tokenizer> LoadHfTokenizer(const std::string& path);

// The tokenizer in folder `dir`, the first found of: tokenizer.json (what Hugging Face
// loads by default), tokenizer.model, tok{vocab_size}.bin, tokenizer.bin. vocab_size
// is the model's (llama2.c files do not store it); 0 when there is no model, then only
// tok<N>.bin is usable among the llama2.c files. nullptr when there is none.
std::unique_ptr<Tokenizer> FindTokenizer(const std::string& dir, int vocab_size);
// The file names FindTokenizer looks for, for error messages.
std::string TokenizerFileNames(int vocab_size);

}  // namespace quip
