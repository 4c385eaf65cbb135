// The BPE model of Hugging Face tokenizer.json: a word (one pre-tokenizer piece) starts
// as one symbol per unit and the adjacent pair with the lowest merge rank is merged,
// leftmost first, until no ranked pair is left (tokenizers' Word::merge_all).
//   byte-level (GPT-2, Llama 3, Qwen): units are bytes; the vocabulary spells each byte
//     as a printable character (utf8::ByteToUnicode), converted back to bytes here.
//   SentencePiece-style (Gemma, Llama 2): units are UTF-8 characters; a character not in
//     the vocabulary becomes its <0xXX> byte tokens (byte_fallback) or <unk>.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace quip {

struct BpeOptions {
  bool byte_level = false;
  bool byte_fallback = false;
  bool ignore_merges = false;  // a word that is itself a token is not merged (Llama 3)
  bool fuse_unk = false;
  int unk_id = -1;
};

// Hash for string-keyed maps that look up string_views without building a string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
};
template <class T>
using StringMap = std::unordered_map<std::string, T, StringHash, std::equal_to<>>;

// Ids of words already encoded in one Encode call (books repeat words constantly).
using BpeCache = StringMap<std::vector<int>>;

class BpeModel {
 public:
  // `vocab` and `merges` as tokenizer.json spells them (byte-level ones are converted).
  // `where` names the file in errors.
  BpeModel(const std::vector<std::pair<std::string, int>>& vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, const BpeOptions& options,
           const std::string& where);

  // Appends the ids of `word` (valid UTF-8 unless byte-level).
  void EncodeWord(std::string_view word, std::vector<int>& out, BpeCache& cache) const;

  // Id of a token spelled in units (raw bytes for byte-level), or -1.
  int Find(std::string_view units) const;
  const BpeOptions& options() const { return options_; }

 private:
  // Words longer than this are cut where no token spans the cut (exact, see Encode).
  static constexpr size_t kChunkBytes = 64;

  void EncodeChunk(std::string_view chunk, std::vector<int>& out) const;
  void InitialSymbols(std::string_view chunk, std::vector<int>& symbols) const;
  void MergeSymbols(std::vector<int>& symbols) const;
  std::vector<std::pair<size_t, uint32_t>> Units(std::string_view text) const;  // (byte offset, unit)

  BpeOptions options_;
  StringMap<int> vocab_;
  std::unordered_map<uint64_t, std::pair<int, int>> merges_;  // (left id, right id) -> (rank, merged id)
  // Adjacent unit pairs found inside some token: a cut between other pairs is never
  // crossed by a merge, so the two sides encode independently. Built on the first long word.
  const std::unordered_set<uint64_t>& JoinedPairs() const;
  mutable std::once_flag joined_pairs_once_;
  mutable std::unordered_set<uint64_t> joined_pairs_;
  int byte_ids_[256];     // byte-level: the token of each byte
  int fallback_ids_[256]; // byte_fallback: <0x00>..<0xFF>, -1 where missing
};

}  // namespace quip
