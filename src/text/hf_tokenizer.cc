// Hugging Face tokenizer.json (the "fast" tokenizers of Llama 3, Qwen 2.5/3, Gemma 3, ...):
//   added tokens are cut out of the raw text first (leftmost, longest) and never split;
//   the rest is normalized, pre-tokenized into words, and each word goes through BPE
//   (bpe.h); the post-processor's template gives the ids put around a text (BOS).
// Only the components those models use are implemented; any other one is refused by name,
// so that a tokenizer is either exact or not loaded.
// Regexes run on PCRE2 (Unicode properties, lookahead), normalization forms on utf8proc.
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <utf8proc.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <functional>
#include <memory>

#include "core/error.h"
#include "io/json_file.h"
#include "text/bpe.h"
#include "text/text_file.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace quip {
namespace {

using nlohmann::json;

constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581, SentencePiece's word boundary
// GPT-2's split, used by a ByteLevel pre-tokenizer with use_regex.
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// A compiled PCRE2 pattern (JIT when available). Patterns come from tokenizer.json,
// written for Oniguruma; the constructs they use (\p{..}, (?i:..), (?!..), {1,3}) mean
// the same in PCRE2.
class Regex {
 public:
  Regex(const std::string& pattern, bool literal, const std::string& where) : where_(where), pattern_(pattern) {
    int error = 0;
    PCRE2_SIZE offset = 0;
    const uint32_t flags = PCRE2_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);  // UCP is not allowed with LITERAL
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), flags, &error, &offset,
                          nullptr);
    if (code_ == nullptr) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(error, message, sizeof message);
      Fail(where, "pre-tokenizer pattern {} does not compile at offset {}: {}", JsonExcerpt(json(pattern)), offset,
           reinterpret_cast<const char*>(message));
    }
    jit_ = pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE) == 0;
  }
  ~Regex() { pcre2_code_free(code_); }
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // The first match in `text` at or after `from`; false when there is none.
  bool Find(std::string_view text, size_t from, pcre2_match_data* data, size_t* begin, size_t* end) const {
    const auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    const int rc = jit_ ? pcre2_jit_match(code_, subject, text.size(), from, PCRE2_NO_UTF_CHECK, data, nullptr)
                        : pcre2_match(code_, subject, text.size(), from, PCRE2_NO_UTF_CHECK, data, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    if (rc < 0) {  // e.g. the match limit: never a silently different split
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof message);
      Fail(where_, "pattern {} failed on the text at byte {}: {}", JsonExcerpt(json(pattern_)), from,
           reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    *begin = ovector[0];
    *end = ovector[1];
    return true;
  }
  const pcre2_code* code() const { return code_; }

 private:
  std::string where_, pattern_;
  pcre2_code* code_ = nullptr;
  bool jit_ = false;
};

struct MatchData {
  explicit MatchData(const Regex& r) : data(pcre2_match_data_create_from_pattern(r.code(), nullptr)) {}
  ~MatchData() { pcre2_match_data_free(data); }
  pcre2_match_data* data;
};

struct NormalizerStep {
  enum Kind { kUnicodeForm, kReplace, kPrepend, kLowercase } kind;
  int utf8proc_options = 0;        // kUnicodeForm
  std::shared_ptr<Regex> pattern;  // kReplace
  std::string content;             // kReplace, kPrepend
  bool nfc = false;                // ASCII-and-Latin-1 text is already NFC: skipped
};

struct PreTokenizerStep {
  enum Kind { kSplit, kPrefixSpace, kMetaspace } kind;
  enum Behavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext } behavior = kIsolated;
  std::shared_ptr<Regex> pattern;  // kSplit; kMetaspace: the replacement, when it splits
  std::string replacement;         // kMetaspace
  bool prepend_first = false, prepend_always = false;
};

struct Span {
  size_t begin, end;
};

// Added tokens by their bytes, for the leftmost-longest match at a position.
class AddedTokenTrie {
 public:
  void Add(const std::string& content, int index) {
    if (content.empty()) return;
    int node = 0;
    for (unsigned char c : content) {
      auto& edges = nodes_[node].edges;
      auto it = std::find_if(edges.begin(), edges.end(), [c](const auto& e) { return e.first == c; });
      if (it == edges.end()) {
        edges.emplace_back(c, int(nodes_.size()));
        node = int(nodes_.size());
        nodes_.emplace_back();
      } else {
        node = it->second;
      }
    }
    nodes_[node].token = index;
    first_byte_[static_cast<unsigned char>(content[0])] = true;
  }
  bool empty() const { return nodes_.size() == 1; }

  // Longest token starting at `at`: its index and length, or index -1.
  std::pair<int, size_t> LongestAt(std::string_view text, size_t at) const {
    std::pair<int, size_t> best{-1, 0};
    if (!first_byte_[static_cast<unsigned char>(text[at])]) return best;
    int node = 0;
    for (size_t i = at; i < text.size(); ++i) {
      const auto& edges = nodes_[node].edges;
      const unsigned char c = text[i];
      auto it = std::find_if(edges.begin(), edges.end(), [c](const auto& e) { return e.first == c; });
      if (it == edges.end()) break;
      node = it->second;
      if (nodes_[node].token >= 0) best = {nodes_[node].token, i + 1 - at};
    }
    return best;
  }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int>> edges;
    int token = -1;
  };
  std::vector<Node> nodes_{1};
  bool first_byte_[256] = {};
};

struct AddedToken {
  std::string content;
  int id;
  bool special, lstrip, rstrip;
};

// One piece of the input after added tokens are cut out: text, or an added token.
struct Section {
  std::string text;
  int added = -1;  // index into added_, or -1 for text
};

std::string StringOrContent(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) return j["content"].get<std::string>();
  return "";
}

bool IsSpaceChar(char32_t c) {
  return c == ' ' || (c >= '\t' && c <= '\r') || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

std::string_view TrimSpaceEnd(std::string_view s) {
  while (!s.empty()) {
    size_t start = s.size() - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    size_t len;
    if (!IsSpaceChar(utf8::DecodeAt(s, start, &len))) break;
    s = s.substr(0, start);
  }
  return s;
}

std::string_view TrimSpaceStart(std::string_view s) {
  size_t len;
  while (!s.empty() && IsSpaceChar(utf8::DecodeAt(s, 0, &len))) s = s.substr(len);
  return s;
}

class HfTokenizer final : public Tokenizer {
 public:
  explicit HfTokenizer(const std::string& path) : path_(path) {
    try {
      Load(ReadJsonFile(path));
      const auto config = std::filesystem::path(path).parent_path() / "tokenizer_config.json";
      if (std::filesystem::exists(config)) ApplyConfig(ReadJsonFile(config.string()), config.string());
    } catch (const json::exception& e) {
      Fail(path, "unexpected tokenizer structure: {}", e.what());
    }
  }

  std::vector<int> Encode(std::string_view raw) const override {
    // Invalid UTF-8 reads as U+FFFD, as every Hugging Face implementation receives it.
    std::string repaired;
    if (FindInvalidUtf8(raw) >= 0) {
      repaired = utf8::ReplaceInvalid(raw);
      raw = repaired;
    }
    std::vector<int> ids;
    BpeCache cache;
    std::vector<Section> sections = SplitAdded(raw, raw_added_);
    for (size_t i = 0; i < sections.size(); ++i) {
      if (sections[i].added >= 0) {
        ids.push_back(added_[sections[i].added].id);
        continue;
      }
      const std::string normalized = Normalize(sections[i].text);
      const std::vector<Section> subs = SplitAdded(normalized, normalized_added_);
      for (size_t k = 0; k < subs.size(); ++k) {
        if (subs[k].added >= 0) {
          ids.push_back(added_[subs[k].added].id);
        } else {
          // "first": the piece that starts the input (Metaspace's prepend_scheme "first").
          EncodeText(subs[k].text, /*first=*/i == 0 && k == 0, ids, cache);
        }
      }
    }
    return ids;
  }

  std::string TokenBytes(int id) const override {
    if (id < 0 || id >= vocab_size() || special_[id]) return "";
    return decoded_[id];
  }
  std::string SpecialText(int id) const override {
    return id >= 0 && id < vocab_size() && special_[id] ? decoded_[id] : "";
  }
  int vocab_size() const override { return int(decoded_.size()); }
  std::vector<int> PrefixIds() const override { return prefix_; }
  std::vector<int> SuffixIds() const override { return suffix_; }
  bool StripsLeadingSpace() const override { return strips_leading_space_; }

 private:
  void Load(const json& j) {
    const json& model = j.at("model");
    const std::string type = model.value("type", "BPE");
    QUIP_CHECK_INPUT(type == "BPE", path_, "model type '{}' is not supported (only BPE)", type);
    QUIP_CHECK_INPUT(model.value("dropout", json()).is_null() || model["dropout"].get<double>() == 0.0, path_,
                     "BPE dropout is not supported");
    for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"})
      QUIP_CHECK_INPUT(StringOrContent(model.value(affix, json())).empty(), path_, "BPE {} is not supported", affix);

    BpeOptions options;
    options.byte_level = UsesByteLevel(j.value("pre_tokenizer", json())) || UsesByteLevel(j.value("decoder", json()));
    options.byte_fallback = model.value("byte_fallback", false);
    options.ignore_merges = model.value("ignore_merges", false);
    options.fuse_unk = model.value("fuse_unk", false);

    QUIP_CHECK_INPUT(model.at("vocab").is_object(), path_, "model.vocab is not an object of token: id");
    QUIP_CHECK_INPUT(model.at("merges").is_array(), path_, "model.merges is not an array");
    QUIP_CHECK_INPUT(j.value("added_tokens", json::array()).is_array(), path_, "added_tokens is not an array");
    std::vector<std::pair<std::string, int>> vocab;
    int max_id = -1;
    for (const auto& [token, id] : model.at("vocab").items()) {
      QUIP_CHECK_INPUT(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < (1 << 24), path_,
                       "vocabulary id of {} is not a valid id: {}", JsonExcerpt(json(token)), JsonExcerpt(id));
      vocab.emplace_back(token, id.get<int>());
      max_id = std::max(max_id, id.get<int>());
    }
    std::vector<std::pair<std::string, std::string>> merges;
    for (const json& m : model.at("merges")) {
      if (m.is_array() && m.size() == 2) {
        merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
      } else {
        const std::string line = m.get<std::string>();
        const size_t space = line.find(' ');
        QUIP_CHECK_INPUT(space != std::string::npos && line.find(' ', space + 1) == std::string::npos, path_,
                         "merge {} is not two tokens separated by one space", JsonExcerpt(m));
        merges.emplace_back(line.substr(0, space), line.substr(space + 1));
      }
    }
    const json& added = j.value("added_tokens", json::array());
    for (const json& a : added) {
      QUIP_CHECK_INPUT(a.at("id").is_number_integer() && a["id"].get<int64_t>() >= 0 && a["id"].get<int64_t>() < (1 << 24),
                       path_, "added token id {} is not a valid id", JsonExcerpt(a["id"]));
      max_id = std::max(max_id, a["id"].get<int>());
    }
    decoded_.assign(size_t(max_id + 1), "");
    special_.assign(size_t(max_id + 1), false);

    if (const std::string unk = StringOrContent(model.value("unk_token", json())); !unk.empty()) {
      const auto it = std::find_if(vocab.begin(), vocab.end(), [&](const auto& v) { return v.first == unk; });
      QUIP_CHECK_INPUT(it != vocab.end(), path_, "unk_token {} is not in the vocabulary", JsonExcerpt(json(unk)));
      options.unk_id = it->second;
    }
    bpe_ = std::make_unique<BpeModel>(vocab, merges, options, path_);

    for (const json& a : added) {
      AddedToken t{a.at("content").get<std::string>(), a.at("id").get<int>(), a.value("special", false),
                   a.value("lstrip", false), a.value("rstrip", false)};
      QUIP_CHECK_INPUT(t.id >= 0, path_, "added token {} has a negative id", JsonExcerpt(json(t.content)));
      QUIP_CHECK_INPUT(!a.value("single_word", false), path_, "added token {} uses single_word, which is not supported",
                       JsonExcerpt(json(t.content)));
      added_.push_back(t);
      special_[t.id] = t.special;
    }

    const json& normalizer = j.value("normalizer", json());
    AddNormalizer(normalizer);
    for (size_t i = 0; i < added_.size(); ++i) {
      // Tokens marked normalized are matched in normalized text (tokenizers' AddedVocabulary).
      const bool normalized = added.at(i).value("normalized", !added_[i].special) && !normalizers_.empty();
      (normalized ? normalized_added_ : raw_added_).Add(normalized ? Normalize(added_[i].content) : added_[i].content,
                                                        int(i));
    }
    AddPreTokenizer(j.value("pre_tokenizer", json()), true);
    AddPostProcessor(j.value("post_processor", json()));
    for (int id : prefix_) QUIP_CHECK_INPUT(id >= 0 && id <= max_id, path_, "post-processor token id {} is not in the vocabulary", id);
    for (int id : suffix_) QUIP_CHECK_INPUT(id >= 0 && id <= max_id, path_, "post-processor token id {} is not in the vocabulary", id);
    LoadDecoder(j.value("decoder", json()), vocab);
  }

  static bool UsesByteLevel(const json& component) {
    if (!component.is_object()) return false;
    if (component.value("type", "") == "ByteLevel") return true;
    for (const char* list : {"pretokenizers", "decoders", "processors"})
      if (component.contains(list))
        for (const json& c : component[list])
          if (UsesByteLevel(c)) return true;
    return false;
  }

  void AddNormalizer(const json& n) {
    if (n.is_null()) return;
    const std::string type = n.at("type").get<std::string>();
    NormalizerStep step{};
    if (type == "Sequence") {
      for (const json& c : n.at("normalizers")) AddNormalizer(c);
      return;
    } else if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
      step.kind = NormalizerStep::kUnicodeForm;
      step.utf8proc_options = UTF8PROC_STABLE | (type[2] == 'K' ? UTF8PROC_COMPAT : 0) |
                              (type.back() == 'C' ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE);
      step.nfc = type == "NFC";
    } else if (type == "Replace") {
      step.kind = NormalizerStep::kReplace;
      step.pattern = PatternOf(n.at("pattern"));
      step.content = n.at("content").get<std::string>();
    } else if (type == "Prepend") {
      step.kind = NormalizerStep::kPrepend;
      step.content = n.at("prepend").get<std::string>();
    } else if (type == "Lowercase") {
      step.kind = NormalizerStep::kLowercase;
    } else {
      Fail(path_, "normalizer '{}' is not supported (supported: Sequence, NFC, NFD, NFKC, NFKD, Replace, Prepend, "
                  "Lowercase)", type);
    }
    normalizers_.push_back(std::move(step));
  }

  std::shared_ptr<Regex> PatternOf(const json& pattern) const {
    if (pattern.contains("Regex")) return std::make_shared<Regex>(pattern["Regex"].get<std::string>(), false, path_);
    return std::make_shared<Regex>(pattern.at("String").get<std::string>(), true, path_);
  }

  // `first`: the step may rewrite the text (add a prefix), which is only exact before any split.
  void AddPreTokenizer(const json& p, bool first) {
    if (p.is_null()) return;
    const std::string type = p.at("type").get<std::string>();
    PreTokenizerStep step{};
    if (type == "Sequence") {
      for (const json& c : p.at("pretokenizers")) {
        AddPreTokenizer(c, first && pre_tokenizers_.empty());
      }
      return;
    } else if (type == "Split") {
      QUIP_CHECK_INPUT(!p.value("invert", false), path_, "Split pre-tokenizer with invert is not supported");
      step.kind = PreTokenizerStep::kSplit;
      step.pattern = PatternOf(p.at("pattern"));
      const std::string behavior = p.at("behavior").get<std::string>();
      if (behavior == "Isolated") step.behavior = PreTokenizerStep::kIsolated;
      else if (behavior == "Removed") step.behavior = PreTokenizerStep::kRemoved;
      else if (behavior == "MergedWithPrevious") step.behavior = PreTokenizerStep::kMergedWithPrevious;
      else if (behavior == "MergedWithNext") step.behavior = PreTokenizerStep::kMergedWithNext;
      else Fail(path_, "Split behavior '{}' is not supported", behavior);
    } else if (type == "ByteLevel") {
      // The byte-to-character map itself is the BPE model's business (bpe.h).
      if (p.value("add_prefix_space", false)) {
        QUIP_CHECK_INPUT(first, path_, "ByteLevel add_prefix_space after another pre-tokenizer is not supported");
        PreTokenizerStep prefix{};
        prefix.kind = PreTokenizerStep::kPrefixSpace;
        pre_tokenizers_.push_back(prefix);
      }
      if (!p.value("use_regex", true)) return;
      step.kind = PreTokenizerStep::kSplit;
      step.pattern = std::make_shared<Regex>(kGpt2Pattern, false, path_);
    } else if (type == "Metaspace") {
      QUIP_CHECK_INPUT(first, path_, "Metaspace after another pre-tokenizer is not supported");
      step.kind = PreTokenizerStep::kMetaspace;
      step.replacement = p.value("replacement", std::string(kMetaspace));
      const std::string scheme = p.value("prepend_scheme", p.value("add_prefix_space", true) ? "always" : "never");
      step.prepend_always = scheme == "always";
      step.prepend_first = scheme == "first";
      if (p.value("split", true)) step.pattern = std::make_shared<Regex>(step.replacement, true, path_);
    } else {
      Fail(path_, "pre-tokenizer '{}' is not supported (supported: Sequence, Split, ByteLevel, Metaspace)", type);
    }
    pre_tokenizers_.push_back(std::move(step));
  }

  int TokenId(const std::string& token) const {
    for (const AddedToken& t : added_)
      if (t.content == token) return t.id;
    std::string units = token;
    if (bpe_->options().byte_level) {  // vocabulary spelling -> bytes
      units.clear();
      for (size_t i = 0, len; i < token.size(); i += len) units += char(utf8::UnicodeToByte(utf8::DecodeAt(token, i, &len)));
    }
    const int id = bpe_->Find(units);
    QUIP_CHECK_INPUT(id >= 0, path_, "special token {} is not in the vocabulary", JsonExcerpt(json(token)));
    return id;
  }

  void AddPostProcessor(const json& p) {
    if (p.is_null()) return;
    const std::string type = p.at("type").get<std::string>();
    if (type == "Sequence") {
      for (const json& c : p.at("processors")) AddPostProcessor(c);
    } else if (type == "ByteLevel") {
      // Only adjusts offsets.
    } else if (type == "TemplateProcessing") {
      bool after = false;
      for (const json& item : p.at("single")) {
        if (item.contains("Sequence")) {
          after = true;
          continue;
        }
        const std::string name = item.at("SpecialToken").at("id").get<std::string>();
        const json& special = p.at("special_tokens").at(name);
        for (const json& id : special.at("ids")) (after ? suffix_ : prefix_).push_back(id.get<int>());
      }
    } else if (type == "RobertaProcessing" || type == "BertProcessing") {
      prefix_.push_back(p.at("cls").at(1).get<int>());
      suffix_.push_back(p.at("sep").at(1).get<int>());
    } else {
      Fail(path_, "post-processor '{}' is not supported", type);
    }
  }

  // tokenizer_config.json's add_bos_token / add_eos_token, when given, decide whether the
  // BOS / EOS it names surround a text (as transformers' Llama and Gemma tokenizers do).
  void ApplyConfig(const json& c, const std::string& where) {
    auto apply = [&](const char* flag, const char* token, std::vector<int>& ids, bool front) {
      if (!c.contains(flag) || !c[flag].is_boolean()) return;
      const std::string name = StringOrContent(c.value(token, json()));
      if (name.empty()) return;
      const int id = TokenId(name);
      const auto at = std::find(ids.begin(), ids.end(), id);
      if (c[flag].get<bool>() && at == ids.end()) ids.insert(front ? ids.begin() : ids.end(), id);
      if (!c[flag].get<bool>() && at != ids.end()) ids.erase(at);
    };
    apply("add_bos_token", "bos_token", prefix_, true);
    apply("add_eos_token", "eos_token", suffix_, false);
  }

  // Each token's bytes once decoded: the decoder steps applied to one token (they act
  // token by token; Fuse only concatenates).
  void LoadDecoder(const json& d, const std::vector<std::pair<std::string, int>>& vocab) {
    std::vector<std::pair<std::string, std::string>> replaces;
    bool byte_level = false, byte_fallback = false;
    std::function<void(const json&)> add = [&](const json& step) {
      if (step.is_null()) return;
      const std::string type = step.at("type").get<std::string>();
      if (type == "Sequence") {
        for (const json& s : step.at("decoders")) add(s);
      } else if (type == "ByteLevel") {
        byte_level = true;
      } else if (type == "ByteFallback") {
        byte_fallback = true;
      } else if (type == "Fuse") {
      } else if (type == "Replace") {
        replaces.emplace_back(step.at("pattern").at("String").get<std::string>(), step.at("content").get<std::string>());
      } else if (type == "Strip") {
        QUIP_CHECK_INPUT(step.value("content", " ") == " " && step.value("stop", 0) == 0, path_,
                         "Strip decoder other than one leading space is not supported");
        strips_leading_space_ = step.value("start", 0) > 0;
      } else if (type == "Metaspace") {
        replaces.emplace_back(step.value("replacement", std::string(kMetaspace)), " ");
        strips_leading_space_ = step.value("prepend_scheme", step.value("add_prefix_space", true) ? "always" : "never") !=
                                "never";
      } else {
        Fail(path_, "decoder '{}' is not supported", type);
      }
    };
    add(d);
    auto decode = [&](const std::string& token) {
      if (byte_fallback && token.size() == 6 && token.rfind("<0x", 0) == 0 && token[5] == '>' &&
          std::isxdigit(static_cast<unsigned char>(token[3])) && std::isxdigit(static_cast<unsigned char>(token[4]))) {
        return std::string(1, char(std::stoi(token.substr(3, 2), nullptr, 16)));
      }
      std::string out = token;
      if (byte_level) {
        std::string bytes;
        bool all = true;
        for (size_t i = 0, len; i < token.size() && all; i += len) {
          const int b = utf8::UnicodeToByte(utf8::DecodeAt(token, i, &len));
          all = b >= 0;
          bytes += char(b);
        }
        if (all) out = bytes;
      }
      for (const auto& [from, to] : replaces) {
        for (size_t at = 0; !from.empty() && (at = out.find(from, at)) != std::string::npos; at += to.size())
          out.replace(at, from.size(), to);
      }
      return out;
    };
    for (const auto& [token, id] : vocab) decoded_[id] = decode(token);
    for (const AddedToken& t : added_) decoded_[t.id] = decode(t.content);
  }

  // Cuts `text` at the added tokens of `trie` (leftmost, longest), applying lstrip/rstrip.
  std::vector<Section> SplitAdded(std::string_view text, const AddedTokenTrie& trie) const {
    std::vector<Section> out;
    if (trie.empty()) {
      out.push_back({std::string(text)});
      return out;
    }
    size_t start = 0;
    for (size_t i = 0; i < text.size();) {
      const auto [index, len] = trie.LongestAt(text, i);
      if (index < 0) {
        ++i;
        continue;
      }
      std::string_view before = text.substr(start, i - start);
      if (added_[index].lstrip) before = TrimSpaceEnd(before);
      if (!out.empty() && out.back().added >= 0 && added_[out.back().added].rstrip) before = TrimSpaceStart(before);
      if (!before.empty()) out.push_back({std::string(before)});
      out.push_back({"", index});
      i += len;
      start = i;
    }
    std::string_view rest = text.substr(start);
    if (!out.empty() && out.back().added >= 0 && added_[out.back().added].rstrip) rest = TrimSpaceStart(rest);
    if (!rest.empty()) out.push_back({std::string(rest)});
    return out;
  }

  std::string Normalize(std::string text) const {
    for (const NormalizerStep& step : normalizers_) {
      switch (step.kind) {
        case NormalizerStep::kUnicodeForm:
          text = step.nfc ? Nfc(text, step.utf8proc_options) : UnicodeForm(text, step.utf8proc_options);
          break;
        case NormalizerStep::kReplace: {
          MatchData data(*step.pattern);
          std::string out;
          size_t pos = 0, begin, end;
          while (pos <= text.size() && step.pattern->Find(text, pos, data.data, &begin, &end) && end > begin) {
            out.append(text, pos, begin - pos);
            out += step.content;
            pos = end;
          }
          out.append(text, std::min(pos, text.size()));
          text = std::move(out);
          break;
        }
        case NormalizerStep::kPrepend:
          if (!text.empty()) text = step.content + text;
          break;
        case NormalizerStep::kLowercase: {
          std::string out;
          for (size_t i = 0, len; i < text.size(); i += len)
            utf8::Append(out, char32_t(utf8proc_tolower(utf8proc_int32_t(utf8::DecodeAt(text, i, &len)))));
          text = std::move(out);
          break;
        }
      }
    }
    return text;
  }

  std::string UnicodeForm(std::string_view text, int options) const {
    utf8proc_uint8_t* result = nullptr;
    const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), utf8proc_ssize_t(text.size()),
                                &result, utf8proc_option_t(options));
    QUIP_CHECK_INPUT(n >= 0, path_, "Unicode normalization failed: {}", utf8proc_errmsg(n));
    std::string out(reinterpret_cast<const char*>(result), size_t(n));
    std::free(result);
    return out;
  }

  // NFC of the stretches that can change: a code point below U+0300 is NFC already and is
  // never the second of a composed pair, so the text can be cut before each one; only runs
  // of code points from U+0300 on (lead byte >= 0xCC), with the character before them,
  // go through utf8proc.
  std::string Nfc(const std::string& text, int options) const {
    auto is_high = [&](size_t i) { return static_cast<unsigned char>(text[i]) >= 0xCC; };
    std::string out;
    size_t done = 0, prev_char = 0;
    for (size_t i = 0; i < text.size();) {
      if (!is_high(i)) {
        prev_char = i;
        i += utf8::CharLength(static_cast<unsigned char>(text[i]));
        continue;
      }
      const size_t begin = std::max(done, prev_char);
      size_t end = i;
      while (end < text.size() && is_high(end)) end += utf8::CharLength(static_cast<unsigned char>(text[end]));
      out.append(text, done, begin - done);
      out += UnicodeForm(std::string_view(text).substr(begin, end - begin), options);
      done = i = prev_char = end;
    }
    if (done == 0) return text;
    out.append(text, done);
    return out;
  }

  // Pre-tokenizes one normalized section into words and appends their BPE ids.
  void EncodeText(std::string text, bool first, std::vector<int>& ids, BpeCache& cache) const {
    std::vector<Span> spans{{0, text.size()}}, next;
    for (const PreTokenizerStep& step : pre_tokenizers_) {
      if (step.kind == PreTokenizerStep::kPrefixSpace) {
        if (!text.empty() && text[0] != ' ') text = " " + text;
        spans = {{0, text.size()}};
        continue;
      }
      std::shared_ptr<Regex> pattern = step.pattern;
      PreTokenizerStep::Behavior behavior = step.behavior;
      if (step.kind == PreTokenizerStep::kMetaspace) {
        std::string replaced;
        for (char c : text) c == ' ' ? void(replaced += step.replacement) : void(replaced += c);
        if ((step.prepend_always || (step.prepend_first && first)) && replaced.rfind(step.replacement, 0) != 0)
          replaced.insert(0, step.replacement);
        text = std::move(replaced);
        spans = {{0, text.size()}};
        if (!pattern) continue;  // split: false
        behavior = PreTokenizerStep::kMergedWithNext;
      }
      MatchData data(*pattern);
      next.clear();
      for (const Span& s : spans) Split(std::string_view(text).substr(s.begin, s.end - s.begin), s.begin, *pattern,
                                        behavior, data.data, next);
      spans.swap(next);
    }
    for (const Span& s : spans) bpe_->EncodeWord(std::string_view(text).substr(s.begin, s.end - s.begin), ids, cache);
  }

  // tokenizers' split behaviors on one piece: each match alone (Isolated), dropped
  // (Removed), ending the piece before it (MergedWithPrevious) or starting the next one.
  static void Split(std::string_view piece, size_t offset, const Regex& pattern, PreTokenizerStep::Behavior behavior,
                    pcre2_match_data* data, std::vector<Span>& out) {
    auto emit = [&](size_t b, size_t e) {
      if (e > b) out.push_back({offset + b, offset + e});
    };
    size_t last = 0, pos = 0, begin, end;
    while (pos < piece.size() && pattern.Find(piece, pos, data, &begin, &end)) {
      if (end == begin) {  // an empty match splits nothing
        pos = begin + utf8::CharLength(static_cast<unsigned char>(piece[begin < piece.size() ? begin : 0]));
        continue;
      }
      switch (behavior) {
        case PreTokenizerStep::kIsolated: emit(last, begin), emit(begin, end), last = end; break;
        case PreTokenizerStep::kRemoved: emit(last, begin), last = end; break;
        case PreTokenizerStep::kMergedWithPrevious: emit(last, end), last = end; break;
        case PreTokenizerStep::kMergedWithNext: emit(last, begin), last = begin; break;
      }
      pos = end;
    }
    emit(last, piece.size());
  }

  std::string path_;
  std::unique_ptr<BpeModel> bpe_;
  std::vector<AddedToken> added_;
  AddedTokenTrie raw_added_, normalized_added_;
  std::vector<NormalizerStep> normalizers_;
  std::vector<PreTokenizerStep> pre_tokenizers_;
  std::vector<int> prefix_, suffix_;
  std::vector<std::string> decoded_;  // by id: the bytes the decoder turns the token into
  std::vector<bool> special_;
  bool strips_leading_space_ = false;
};

}  // namespace

std::unique_ptr<Tokenizer> LoadHfTokenizer(const std::string& path) { return std::make_unique<HfTokenizer>(path); }

}  // namespace quip
