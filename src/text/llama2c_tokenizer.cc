// llama2.c tokenizer files: int32 max_token_length, then for each of vocab_size
// tokens {float32 score, int32 length, length bytes}. Ids 3..258 are the byte
// fallback tokens <0x00>..<0xFF>; ' ' already stands for SentencePiece's U+2581.
//
// Encoding follows llama2.c's encode(): a dummy-prefix space, one token per UTF-8
// character (byte fallback when the character is not in the vocabulary), then
// repeatedly merge the adjacent pair whose concatenation is the vocabulary entry
// with the highest score (leftmost on ties). llama2.c rescans the whole sequence per
// merge (quadratic); we keep candidate pairs in a priority queue, which picks the
// same merge at every step, so whole books tokenise in O(n log n).
#include <cstring>
#include <queue>
#include <unordered_map>

#include "core/error.h"
#include "io/json_file.h"
#include "text/tokenizer.h"

namespace quip {
namespace {

constexpr int kByteFallbackBase = 3;

class Llama2cTokenizer final : public Tokenizer {
 public:
  Llama2cTokenizer(const std::string& path, int vocab_size) : path_(path) {
    const std::string bytes = ReadWholeFile(path);
    size_t at = 0;
    auto read = [&](void* dst, size_t n, const char* what, int id) {
      QUIP_CHECK_INPUT(at + n <= bytes.size(), path, "truncated at {} of token {} (file is {} bytes)", what, id,
                       bytes.size());
      std::memcpy(dst, bytes.data() + at, n);
      at += n;
    };
    int32_t max_len = 0;
    read(&max_len, 4, "the header", -1);
    QUIP_CHECK_INPUT(max_len > 0 && max_len < 1 << 16, path, "max_token_length {} is out of range", max_len);
    QUIP_CHECK_INPUT(vocab_size > kByteFallbackBase + 255, path, "vocab_size {} is too small for byte fallback",
                     vocab_size);
    for (int id = 0; id < vocab_size; ++id) {
      float score;
      int32_t len;
      read(&score, 4, "the score", id);
      read(&len, 4, "the length", id);
      QUIP_CHECK_INPUT(len >= 0 && len <= max_len, path, "token {} has length {} (max_token_length {})", id, len,
                       max_len);
      std::string text(size_t(len), '\0');
      read(text.data(), size_t(len), "the text", id);
      scores_.push_back(score);
      ids_.emplace(text, id);  // first occurrence wins, as llama2.c's binary search over sorted unique entries
      texts_.push_back(std::move(text));
    }
  }

  std::vector<int> Encode(std::string_view text) const override {
    std::vector<int> tokens;
    if (text.empty()) return tokens;
    if (auto it = ids_.find(" "); it != ids_.end()) tokens.push_back(it->second);  // dummy prefix
    for (size_t i = 0; i < text.size();) {
      size_t len = 1;  // one UTF-8 character (continuation bytes are 10xxxxxx), at most 4 bytes
      while (i + len < text.size() && len < 4 && (static_cast<unsigned char>(text[i + len]) & 0xC0) == 0x80) ++len;
      if (auto it = ids_.find(std::string(text.substr(i, len))); it != ids_.end()) {
        tokens.push_back(it->second);
      } else {
        for (size_t b = 0; b < len; ++b) tokens.push_back(static_cast<unsigned char>(text[i + b]) + kByteFallbackBase);
      }
      i += len;
    }
    return Merge(std::move(tokens));
  }

  std::string TokenBytes(int id) const override {
    if (id < 0 || id >= vocab_size()) return "";
    const std::string& t = texts_[id];
    unsigned byte;
    if (t.size() == 6 && std::sscanf(t.c_str(), "<0x%02X>", &byte) == 1) return std::string(1, char(byte));
    // llama2.c's export writes BOS/EOS as "\n<s>\n" and "\n</s>\n" (tok512.bin does).
    if (t == "<s>" || t == "</s>" || t == "<unk>" || t == "\n<s>\n" || t == "\n</s>\n") return "";
    return t;
  }

  int vocab_size() const override { return static_cast<int>(texts_.size()); }
  std::vector<int> PrefixIds() const override { return {1}; }  // llama2.c's encode(bos=1)

 private:
  struct Candidate {
    float score;
    int left;  // index into the symbol list; lower = further left
    int merged_id;
    int left_id, right_id;  // the ids this candidate was computed for (stale if changed)
    bool operator<(const Candidate& o) const { return score < o.score || (score == o.score && left > o.left); }
  };

  std::vector<int> Merge(std::vector<int> ids) const {
    const int n = static_cast<int>(ids.size());
    std::vector<int> prev(n), next(n);
    for (int i = 0; i < n; ++i) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    std::priority_queue<Candidate> queue;
    auto consider = [&](int left) {
      const int right = left >= 0 ? next[left] : -1;
      if (left < 0 || right < 0) return;
      auto it = ids_.find(texts_[ids[left]] + texts_[ids[right]]);
      if (it != ids_.end()) queue.push({scores_[it->second], left, it->second, ids[left], ids[right]});
    };
    for (int i = 0; i + 1 < n; ++i) consider(i);
    while (!queue.empty()) {
      const Candidate c = queue.top();
      queue.pop();
      const int right = next[c.left];
      if (ids[c.left] != c.left_id || right < 0 || ids[right] != c.right_id) continue;  // stale
      ids[c.left] = c.merged_id;
      ids[right] = -1;
      next[c.left] = next[right];
      if (next[right] >= 0) prev[next[right]] = c.left;
      consider(prev[c.left]);
      consider(c.left);
    }
    std::vector<int> out;
    for (int i = 0; i >= 0 && n > 0; i = next[i]) out.push_back(ids[i]);
    return out;
  }

  std::string path_;
  std::vector<std::string> texts_;
  std::vector<float> scores_;
  std::unordered_map<std::string, int> ids_;
};

}  // namespace

std::unique_ptr<Tokenizer> LoadLlama2cTokenizer(const std::string& path, int vocab_size) {
  return std::make_unique<Llama2cTokenizer>(path, vocab_size);
}

}  // namespace quip
