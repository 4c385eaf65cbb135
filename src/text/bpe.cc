#include "text/bpe.h"

#include <queue>

#include "core/error.h"
#include "text/utf8.h"

namespace quip {
namespace {

uint64_t PairKey(uint32_t a, uint32_t b) { return uint64_t(a) << 32 | b; }

// A byte-level token's raw bytes, or the spelling unchanged when some character stands
// for no byte (such a token can only be produced as an added token).
std::string ToBytes(const std::string& spelled) {
  std::string bytes;
  for (size_t i = 0, len; i < spelled.size(); i += len) {
    const int b = utf8::UnicodeToByte(utf8::DecodeAt(spelled, i, &len));
    if (b < 0) return spelled;
    bytes += char(b);
  }
  return bytes;
}

}  // namespace

BpeModel::BpeModel(const std::vector<std::pair<std::string, int>>& vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, const BpeOptions& options,
                   const std::string& where)
    : options_(options) {
  vocab_.reserve(vocab.size());
  for (const auto& [spelled, id] : vocab) {
    vocab_.emplace(options.byte_level ? ToBytes(spelled) : spelled, id);
  }
  for (int b = 0; b < 256; ++b) {
    byte_ids_[b] = Find(std::string(1, char(b)));
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    const auto it = vocab_.find(name);
    fallback_ids_[b] = it == vocab_.end() ? -1 : it->second;
    if (options.byte_level)
      QUIP_CHECK_INPUT(byte_ids_[b] >= 0, where, "byte-level vocabulary has no token for byte 0x{:02X}", b);
  }
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    const std::string left = options.byte_level ? ToBytes(a) : a, right = options.byte_level ? ToBytes(b) : b;
    const int left_id = Find(left), right_id = Find(right), merged_id = Find(left + right);
    QUIP_CHECK_INPUT(left_id >= 0 && right_id >= 0 && merged_id >= 0, where,
                     "merge {} (\"{} {}\") names a token that is not in the vocabulary", rank, a, b);
    // A repeated pair keeps its last rank, as tokenizers and tokenizers.js build their maps.
    merges_.insert_or_assign(PairKey(uint32_t(left_id), uint32_t(right_id)), std::pair{int(rank), merged_id});
  }
}

const std::unordered_set<uint64_t>& BpeModel::JoinedPairs() const {
  std::call_once(joined_pairs_once_, [this] {
    for (const auto& [token, id] : vocab_) {
      const auto units = Units(token);
      for (size_t k = 1; k < units.size(); ++k) joined_pairs_.insert(PairKey(units[k - 1].second, units[k].second));
    }
  });
  return joined_pairs_;
}

int BpeModel::Find(std::string_view units) const {
  const auto it = vocab_.find(units);
  return it == vocab_.end() ? -1 : it->second;
}

std::vector<std::pair<size_t, uint32_t>> BpeModel::Units(std::string_view text) const {
  std::vector<std::pair<size_t, uint32_t>> units;
  for (size_t i = 0, len = 1; i < text.size(); i += len) {
    if (options_.byte_level) {
      units.emplace_back(i, static_cast<unsigned char>(text[i]));
    } else {
      units.emplace_back(i, utf8::DecodeAt(text, i, &len));
    }
  }
  return units;
}

void BpeModel::EncodeWord(std::string_view word, std::vector<int>& out, BpeCache& cache) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    if (const int id = Find(word); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  auto encode_cached = [&](std::string_view chunk) {
    auto it = cache.find(chunk);
    if (it == cache.end()) {
      it = cache.emplace(std::string(chunk), std::vector<int>()).first;
      EncodeChunk(chunk, it->second);
    }
    out.insert(out.end(), it->second.begin(), it->second.end());
  };
  if (word.size() <= kChunkBytes) return encode_cached(word);
  // A merge only ever joins adjacent symbols into a token that contains the two units on
  // either side of their boundary, so where no token contains that pair of units no merge
  // crosses, and merges on each side happen in the same order as on that side alone.
  const auto units = Units(word);
  const auto& joined_pairs = JoinedPairs();
  size_t start = 0;
  for (size_t k = 1; k < units.size(); ++k) {
    if (joined_pairs.count(PairKey(units[k - 1].second, units[k].second))) continue;
    encode_cached(word.substr(start, units[k].first - start));
    start = units[k].first;
  }
  encode_cached(word.substr(start));
}

void BpeModel::EncodeChunk(std::string_view chunk, std::vector<int>& out) const {
  std::vector<int> symbols;
  InitialSymbols(chunk, symbols);
  MergeSymbols(symbols);
  out = std::move(symbols);
}

void BpeModel::InitialSymbols(std::string_view chunk, std::vector<int>& symbols) const {
  if (options_.byte_level) {
    for (unsigned char b : chunk) symbols.push_back(byte_ids_[b]);
    return;
  }
  for (size_t i = 0, len; i < chunk.size(); i += len) {
    utf8::DecodeAt(chunk, i, &len);
    if (const int id = Find(chunk.substr(i, len)); id >= 0) {
      symbols.push_back(id);
      continue;
    }
    bool all_bytes = options_.byte_fallback;
    for (size_t k = 0; all_bytes && k < len; ++k) all_bytes = fallback_ids_[static_cast<unsigned char>(chunk[i + k])] >= 0;
    if (all_bytes) {
      for (size_t k = 0; k < len; ++k) symbols.push_back(fallback_ids_[static_cast<unsigned char>(chunk[i + k])]);
    } else if (options_.unk_id >= 0 && !(options_.fuse_unk && !symbols.empty() && symbols.back() == options_.unk_id)) {
      symbols.push_back(options_.unk_id);
    }  // no <unk> token: the character is dropped, as tokenizers.js does
  }
}

void BpeModel::MergeSymbols(std::vector<int>& symbols) const {
  const int n = int(symbols.size());
  if (n < 2) return;
  std::vector<int> prev(n), next(n);
  for (int i = 0; i < n; ++i) prev[i] = i - 1, next[i] = i + 1 < n ? i + 1 : -1;
  struct Candidate {
    int rank, pos, left, right, merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto consider = [&](int pos) {
    if (pos < 0 || next[pos] < 0) return;
    const int left = symbols[pos], right = symbols[next[pos]];
    const auto it = merges_.find(PairKey(uint32_t(left), uint32_t(right)));
    if (it != merges_.end()) queue.push({it->second.first, pos, left, right, it->second.second});
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    // Stale entries: either symbol was merged away or changed since this was queued.
    const int right_pos = symbols[c.pos] < 0 ? -1 : next[c.pos];
    if (right_pos < 0 || symbols[c.pos] != c.left || symbols[right_pos] != c.right) continue;
    symbols[c.pos] = c.merged;
    symbols[right_pos] = -1;
    next[c.pos] = next[right_pos];
    if (next[c.pos] >= 0) prev[next[c.pos]] = c.pos;
    consider(prev[c.pos]);
    consider(c.pos);
  }
  int kept = 0;
  for (int i = 0; i >= 0; i = next[i]) symbols[kept++] = symbols[i];
  symbols.resize(kept);
}

}  // namespace quip
