// The tokenizer.json tokenizer (src/text/hf_tokenizer.cc).
// 1. Tiny tokenizer.json files written here, with ids worked out by hand from the BPE rules
//    (lowest merge rank first, leftmost on ties) and the component definitions.
// 2. The real tokenizers of Llama 2, Llama 3, Qwen 3 and Gemma 3 against tokenizers.js, the
//    JavaScript implementation of Hugging Face tokenizers (tools/hf_tokenize.js; npm files
//    fetched by scripts/setup.sh): identical ids on slices of the books, WikiText-2 and
//    TinyStories texts and on an adversarial text, identical decoded text, and
//    decode(encode(x)) == x where the tokenizer is lossless.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "testing/scratch.h"
#include "testing/tiny_model.h"
#include "text/npm_reference.h"
#include "text/text_file.h"
#include "text/tokenizer.h"
#include "text/utf8.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using testing::ReadFileText;
using testing::WriteFileText;

// --- tiny tokenizers -------------------------------------------------------------------

// A folder holding `tokenizer` as tokenizer.json (and `config` as tokenizer_config.json).
std::unique_ptr<Tokenizer> Load(const json& tokenizer, const json& config = nullptr) {
  static int n = 0;
  const std::string dir = testing::MakeTempDir("hf_tokenizer_" + std::to_string(n++));
  WriteFileText(dir + "/tokenizer.json", tokenizer.dump());
  if (!config.is_null()) WriteFileText(dir + "/tokenizer_config.json", config.dump());
  return LoadHfTokenizer(dir + "/tokenizer.json");
}

// GPT-2 style: bytes spelled with utf8::ByteToUnicode, ids 0..255 by byte value, then the
// merged tokens in merge order from id 256.
json ByteLevelTokenizer(const std::vector<std::pair<std::string, std::string>>& merges) {
  json vocab = json::object();
  auto spell = [](const std::string& bytes) {
    std::string s;
    for (unsigned char b : bytes) utf8::Append(s, utf8::ByteToUnicode()[b]);
    return s;
  };
  for (int b = 0; b < 256; ++b) vocab[spell(std::string(1, char(b)))] = b;
  json merge_list = json::array();
  int next = 256;
  for (const auto& [a, b] : merges) {
    if (!vocab.contains(spell(a + b))) vocab[spell(a + b)] = next++;
    merge_list.push_back(spell(a) + " " + spell(b));
  }
  return {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merge_list}}},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"},
               {"pattern", {{"Regex", R"( ?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"}}},
               {"behavior", "Isolated"},
               {"invert", false}},
              {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
          {"decoder", {{"type", "ByteLevel"}}},
          {"added_tokens", json::array()}};
}

TEST(HfTokenizerTiny, MergesByRankLeftmostFirst) {
  // "aaa": the one rank-0 pair "a a" applies leftmost -> "aa" "a" (256, 97).
  // "abc": ranks: "b c" (1) before "a b" (2) -> "a" "bc" (97, 257).
  const auto t = Load(ByteLevelTokenizer({{"a", "a"}, {"b", "c"}, {"a", "b"}}));
  EXPECT_EQ(t->Encode("aaa"), (std::vector<int>{256, 97}));
  EXPECT_EQ(t->Encode("abc"), (std::vector<int>{97, 257}));
  // The split keeps " abc" one word and "1234" as "123" "4"; a space joins the next word.
  EXPECT_EQ(t->Encode("aaa 1234"), (std::vector<int>{256, 97, ' ', '1', '2', '3', '4'}));
  EXPECT_EQ(t->Decode(t->Encode("aaa 1234 \xC3\xA9!\n"), -1), "aaa 1234 \xC3\xA9!\n");
  EXPECT_FALSE(t->StripsLeadingSpace());
}

TEST(HfTokenizerTiny, IgnoreMergesTakesWholeWordTokens) {
  // "abc" is a token (via merges "a b", "ab c"), and "b c" has the lowest rank: merging
  // gives "a" "bc"; with ignore_merges the whole word is looked up first.
  json j = ByteLevelTokenizer({{"b", "c"}, {"a", "b"}, {"ab", "c"}});
  const int abc = j["model"]["vocab"]["abc"];
  EXPECT_EQ(Load(j)->Encode("abc"), (std::vector<int>{97, 256}));
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(Load(j)->Encode("abc"), (std::vector<int>{abc}));
}

TEST(HfTokenizerTiny, AddedTokensLeftmostLongestNeverSplit) {
  json j = ByteLevelTokenizer({{"a", "b"}});
  j["added_tokens"] = {{{"id", 300}, {"content", "<s>"}, {"special", true}},
                       {{"id", 301}, {"content", "<s><s>"}, {"special", true}},
                       {{"id", 302}, {"content", "ab"}, {"special", false}}};
  const auto t = Load(j);
  // "<s><s><s>": longest first -> 301, then 300. "xab" -> "x" then the added "ab".
  EXPECT_EQ(t->Encode("<s><s><s>xab"), (std::vector<int>{301, 300, 'x', 302}));
  EXPECT_EQ(t->TokenBytes(300), "");  // special: no text in TokenBytes (generation output)
  EXPECT_EQ(t->SpecialText(300), "<s>");
  EXPECT_EQ(t->Decode({301, 'x', 302}, -1, /*special_text=*/true), "<s><s>xab");
}

// lstrip / rstrip: the added token takes the white space on that side with it.
TEST(HfTokenizerTiny, AddedTokenStripsSpaces) {
  json j = ByteLevelTokenizer({});
  j["added_tokens"] = {{{"id", 300}, {"content", "<l>"}, {"special", true}, {"lstrip", true}},
                       {{"id", 301}, {"content", "<r>"}, {"special", true}, {"rstrip", true}}};
  const auto t = Load(j);
  EXPECT_EQ(t->Encode("a  <l> b"), (std::vector<int>{'a', 300, ' ', 'b'}));
  EXPECT_EQ(t->Encode("a <r>  b"), (std::vector<int>{'a', ' ', 301, 'b'}));
}

// Lowercase and NFKC by their definitions: "AbC" -> "abc", "\uFB01\u00B2" (the fi ligature,
// superscript two) -> "fi2".
TEST(HfTokenizerTiny, LowercaseAndNfkc) {
  json j = ByteLevelTokenizer({});
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", {{{"type", "Lowercase"}}, {{"type", "NFKC"}}}}};
  EXPECT_EQ(Load(j)->Encode("AbC \xEF\xAC\x81\xC2\xB2"), (std::vector<int>{'a', 'b', 'c', ' ', 'f', 'i', '2'}));
}

TEST(HfTokenizerTiny, TemplateBosAndTokenizerConfig) {
  json j = ByteLevelTokenizer({});
  j["added_tokens"] = {{{"id", 300}, {"content", "<bos>"}, {"special", true}},
                       {{"id", 301}, {"content", "<eos>"}, {"special", true}}};
  j["post_processor"] = {{"type", "TemplateProcessing"},
                         {"single", {{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}},
                                     {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
                         {"special_tokens", {{"<bos>", {{"id", "<bos>"}, {"ids", {300}}, {"tokens", {"<bos>"}}}}}}};
  EXPECT_EQ(Load(j)->PrefixIds(), (std::vector<int>{300}));
  EXPECT_TRUE(Load(j)->SuffixIds().empty());
  // tokenizer_config.json decides when it says so.
  EXPECT_TRUE(Load(j, {{"add_bos_token", false}, {"bos_token", "<bos>"}})->PrefixIds().empty());
  EXPECT_EQ(Load(j, {{"add_eos_token", true}, {"eos_token", {{"content", "<eos>"}}}})->SuffixIds(),
            (std::vector<int>{301}));
}

// SentencePiece-style BPE as in Llama 2's tokenizer.json: "▁" for spaces and a dummy prefix,
// byte fallback for characters outside the vocabulary, the decoder drops the prefix again.
json SentencePieceStyle() {
  json vocab = {{"<unk>", 0}, {"\xE2\x96\x81", 1}, {"a", 2}, {"b", 3}, {"\xE2\x96\x81" "a", 4}, {"ab", 5}};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    vocab[name] = 10 + b;
  }
  return {{"model",
           {{"type", "BPE"}, {"vocab", vocab}, {"merges", {"\xE2\x96\x81 a", "a b"}}, {"unk_token", "<unk>"},
            {"byte_fallback", true}, {"fuse_unk", true}}},
          {"normalizer",
           {{"type", "Sequence"},
            {"normalizers",
             {{{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}},
              {{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}}}}}},
          {"pre_tokenizer", nullptr},
          {"decoder",
           {{"type", "Sequence"},
            {"decoders",
             {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
              {{"type", "ByteFallback"}},
              {{"type", "Fuse"}},
              {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
          {"added_tokens", json::array()}};
}

TEST(HfTokenizerTiny, SentencePieceStyleByteFallback) {
  const auto t = Load(SentencePieceStyle());
  // "ab ab": "▁ab▁ab"; rank 0 "▁ a" -> "▁a" "b" "▁a" "b" (no "▁a b" merge).
  EXPECT_EQ(t->Encode("ab ab"), (std::vector<int>{4, 3, 4, 3}));
  // "é" (C3 A9) is not in the vocabulary: its bytes <0xC3> <0xA9>.
  EXPECT_EQ(t->Encode("\xC3\xA9"), (std::vector<int>{1, 10 + 0xC3, 10 + 0xA9}));
  EXPECT_TRUE(t->StripsLeadingSpace());
  EXPECT_EQ(t->Decode(t->Encode("ab \xC3\xA9 ba"), -1), "ab \xC3\xA9 ba");
}

TEST(HfTokenizerTiny, UnknownWithoutByteFallbackIsOneFusedUnk) {
  json j = SentencePieceStyle();
  j["model"]["byte_fallback"] = false;
  EXPECT_EQ(Load(j)->Encode("a\xC3\xA9\xC3\xA9"), (std::vector<int>{4, 0}));
}

// Metaspace (Mistral-style tokenizer.json): spaces become "▁", a "▁" is prepended
// ("always", or "first": only to the piece that starts the input, not after an added token),
// and the text is split before each "▁".
TEST(HfTokenizerTiny, MetaspacePrependSchemes) {
  json j = SentencePieceStyle();
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}, {"split", true}};
  j["decoder"] = {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", "always"}};
  j["added_tokens"] = {{{"id", 300}, {"content", "<s>"}, {"special", true}}};
  // "ab ab" -> "▁ab" "▁ab": within a word "▁ a" (rank 0) then no "▁a b" merge.
  EXPECT_EQ(Load(j)->Encode("ab ab"), (std::vector<int>{4, 3, 4, 3}));
  EXPECT_EQ(Load(j)->Encode("<s>ab"), (std::vector<int>{300, 4, 3}));
  EXPECT_TRUE(Load(j)->StripsLeadingSpace());
  EXPECT_EQ(Load(j)->Decode({4, 3, 4, 3}, -1), "ab ab");
  j["pre_tokenizer"]["prepend_scheme"] = "first";
  EXPECT_EQ(Load(j)->Encode("ab ab"), (std::vector<int>{4, 3, 4, 3}));
  EXPECT_EQ(Load(j)->Encode("<s>ab"), (std::vector<int>{300, 5}));  // no "▁" after <s>: "a b" -> "ab"
  j["pre_tokenizer"]["prepend_scheme"] = "never";
  EXPECT_EQ(Load(j)->Encode("ab ab"), (std::vector<int>{5, 4, 3}));
}

TEST(HfTokenizerTiny, RefusesWhatItDoesNotImplementByName) {
  auto expect_error = [](json j, const std::string& needle) {
    try {
      Load(j);
      ADD_FAILURE() << "loaded; expected an error containing " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  json j = ByteLevelTokenizer({});
  j["model"]["type"] = "WordPiece";
  expect_error(j, "model type 'WordPiece' is not supported");
  j = ByteLevelTokenizer({});
  j["pre_tokenizer"] = {{"type", "BertPreTokenizer"}};
  expect_error(j, "pre-tokenizer 'BertPreTokenizer' is not supported");
  j = ByteLevelTokenizer({});
  j["normalizer"] = {{"type", "Precompiled"}};
  expect_error(j, "normalizer 'Precompiled' is not supported");
  j = ByteLevelTokenizer({});
  j["model"]["merges"] = {"x yz"};
  expect_error(j, "merge 0 (\"x yz\") names a token that is not in the vocabulary");
  j = ByteLevelTokenizer({});
  j["model"]["vocab"] = "not an object";
  expect_error(j, "tokenizer.json");
}

// Which file FindTokenizer (what every command uses) picks: tokenizer.json before
// tokenizer.model; llama2.c's tok<N>.bin by its name when no model gives the size.
TEST(FindTokenizer, PrefersTokenizerJsonThenSentencePieceThenLlama2c) {
  const std::string dir = testing::MakeTempDir("find_tokenizer");
  EXPECT_EQ(FindTokenizer(dir, 0), nullptr);
  fs::copy_file(testing::StoriesModel() + "/tok512.bin", dir + "/tok512.bin");
  EXPECT_EQ(FindTokenizer(dir, 0)->vocab_size(), 512);
  EXPECT_EQ(FindTokenizer(dir, 512)->vocab_size(), 512);
  EXPECT_EQ(FindTokenizer(dir, 600), nullptr);  // the model wants tok600.bin or tokenizer.bin
  fs::copy_file(testing::BooksModel() + "/tokenizer.model", dir + "/tokenizer.model");
  EXPECT_EQ(FindTokenizer(dir, 512)->vocab_size(), 4096);
  WriteFileText(dir + "/tokenizer.json", ByteLevelTokenizer({{"a", "b"}}).dump());
  EXPECT_EQ(FindTokenizer(dir, 512)->vocab_size(), 257);
}

// The Unicode Standard's example of U+FFFD for maximal subparts (chapter 3, "U+FFFD
// Substitution of Maximal Subparts"): 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64.
TEST(Utf8, ReplaceInvalidFollowsMaximalSubparts) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(utf8::ReplaceInvalid("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
            "a" + fffd + fffd + fffd + "b" + fffd + "c" + fffd + fffd + "d");
  EXPECT_EQ(utf8::ReplaceInvalid("\xED\xA0\x80"), fffd + fffd + fffd);  // a surrogate: 3 subparts
  EXPECT_EQ(utf8::ReplaceInvalid("\xC0\xAF"), fffd + fffd);             // overlong
  EXPECT_EQ(utf8::ReplaceInvalid("ok \xF0\x9F\x98\x80"), "ok \xF0\x9F\x98\x80");
}

// --- real tokenizers against tokenizers.js ---------------------------------------------

// Mixed scripts, emoji (ZWJ sequences, flags, skin tones, keycaps), CJK, combining marks
// (decomposed forms NFC changes), Unicode spaces, long runs of spaces, newlines and digits,
// contractions in any case, and the special-token strings of all three tokenizers inside text.
std::string AdversarialText() {
  std::string t =
      "The quick brown fox -- \xE2\x80\x9Cquoted\xE2\x80\x9D, \xE2\x80\x98single\xE2\x80\x99; it\xE2\x80\x99s I'M "
      "you'RE we'Ve they'LL she'd DON'T 's 't\n"
      "\xD0\xA0\xD1\x83\xD1\x81\xD1\x81\xD0\xBA\xD0\xB8\xD0\xB9 \xD1\x82\xD0\xB5\xD0\xBA\xD1\x81\xD1\x82, "
      "\xD8\xA7\xD9\x84\xD8\xB9\xD8\xB1\xD8\xA8\xD9\x8A\xD8\xA9 \xD9\xA1\xD9\xA2\xD9\xA3, \xD7\xA2\xD7\x91\xD7\xA8\xD7\x99\xD7\xAA, "
      "\xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\xA8\xE0\xA5\x8D\xE0\xA4\xA6\xE0\xA5\x80, \xE0\xB9\x84\xE0\xB8\x97\xE0\xB8\xA2, "
      "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 \xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB (jamo), "
      "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE\xE3\x81\x8B\xE3\x81\xAA\xE3\x82\xAB\xE3\x83\x8A\xE4\xB8\xAD\xE6\x96\x87\xE3\x80\x82"
      "\xEF\xBC\x91\xEF\xBC\x92\xEF\xBC\x93\n"
      "emoji: \xF0\x9F\x8E\x89\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7 "
      "\xF0\x9F\x87\xAF\xF0\x9F\x87\xB5 \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD 1\xEF\xB8\x8F\xE2\x83\xA3 \xF0\x9F\x98\x80\xF0\x9F\x98\x80\n"
      "combining: e\xCC\x81 a\xCC\x88\xCC\x84 A\xCC\x8A \xE2\x84\xAB Z\xCD\x91\xCD\x8B\xCC\x80\xCC\x81\xCD\x9D" "a\xCC\xB7lgo "
      "\xEF\xAC\x81 x\xC2\xB2\n"
      "spaces:\xC2\xA0nbsp\xE3\x80\x80ideo\xE2\x80\x89thin\xE2\x80\x8Bzwsp\xC2\x85nel\xEF\xBB\xBF" "bom\t\ttabs \t \n"
      "digits 1234567890123456789 3.14159 1,000,000 -42 0x1F 2024-01-01\n"
      "specials: <|begin_of_text|>x<|end_of_text|> <|im_start|>user\nhi<|im_end|> <|endoftext|> <think></think> "
      "<tool_call> <bos><eos> <start_of_turn>model<end_of_turn> <unused42> <table><tr><td> <|im_sta <|im_end|x "
      "<<bos>> [multimodal]\n"
      "code: if (x != y) { return a->b[i] * 2; } // ..... !!! ??? --- ___ *** ~~~\n"
      "metaspace \xE2\x96\x81 and \xE2\x96\x81\xE2\x96\x81two\n"
      "ctrl \x01\x02\x7F end\r\nCRLF\r\n\r\n";
  t += std::string(120, ' ') + "after spaces\n" + std::string(9, '\n') + std::string(40, '\t') + "x" +
       std::string(300, 'a') + " " + std::string(200, '7') + "\n";
  for (int i = 0; i < 8; ++i) t += "word" + std::to_string(i) + (i % 2 ? "  " : " ");
  return t + "\n\n\n";
}

// AdversarialText with invalid UTF-8: a lone continuation byte, a truncated character, a
// surrogate, an overlong form, 0xFF and a cut 4-byte character at the end.
std::string InvalidUtf8Text() {
  return "start \x80 mid \xC3( x \xED\xA0\x80 y \xC0\xAF z \xFF\xFE w " + AdversarialText().substr(0, 400) +
         " \xF0\x9F\x98";
}

// Long runs (the split regexes' \s+(?!\S) and \p{N}{1,3}, Gemma's long words), and 60,000
// code points drawn with a fixed seed from ranges where tokenizers differ: combining marks and
// Hangul jamo (NFC composes them), Unicode spaces and digits, CJK, emoji, "▁", special-token
// pieces.
std::string RandomText() {
  std::string t = std::string(5000, ' ') + "x" + std::string(3000, '\n') + std::string(7001, '7') + " " +
                  std::string(6000, 'a') + "\n";
  const std::vector<std::pair<char32_t, char32_t>> ranges = {
      {0x20, 0x7E},     {0x20, 0x7E},     {0xA0, 0x2FF},    {0x300, 0x36F},   {0x1100, 0x11FF}, {0xAC00, 0xAC40},
      {0x4E00, 0x4E80}, {0x1F300, 0x1F64F}, {0x2000, 0x200F}, {0x2028, 0x2029}, {0x3000, 0x3000}, {0x660, 0x669},
      {0xFF10, 0xFF19}, {0x2581, 0x2581}, {0x9, 0xD},       {0x85, 0x85},     {0xFEFF, 0xFEFF}, {0x1F1E6, 0x1F1FF}};
  const std::vector<std::string> pieces = {"<|", "|>", "<bos>", "<|im_end|>", "<unused1>", "'s", "'LL", "\r\n", "  "};
  uint64_t state = 20240601;
  auto next = [&state](uint64_t n) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (state >> 33) % n;
  };
  for (int i = 0; i < 60000; ++i) {
    if (next(20) == 0) {
      t += pieces[next(pieces.size())];
      continue;
    }
    const auto [lo, hi] = ranges[next(ranges.size())];
    utf8::Append(t, char32_t(lo + next(hi - lo + 1)));
  }
  return t;
}

// The first `bytes` of a file, cut back to a line end.
std::string Slice(const std::string& path, size_t bytes) {
  std::string text = ReadFileText(path).substr(0, bytes);
  return text.substr(0, text.rfind('\n') + 1);
}

std::string WikiText() { return testing::SharedDir() + "/data/wikitext-2-raw/wiki.test.raw"; }

struct NamedText {
  std::string name, text;
  bool valid_utf8;
};

std::vector<NamedText> ComparisonTexts() {
  std::vector<NamedText> texts = {
      {"books train (first 100 kB)", Slice(testing::SourceDir() + "/data/books/train.txt", 100000), true},
      {"TinyStories (first 100 kB)", Slice(testing::TinyStoriesText(), 100000), true},
      {"adversarial", AdversarialText(), true},
      {"random code points", RandomText(), true},
      {"invalid UTF-8", InvalidUtf8Text(), false},
  };
  texts.push_back({"WikiText-2 test (first 100 kB)", Slice(WikiText(), 100000), true});
  return texts;
}

// What decoding loses by the tokenizer's own definition, applied to `text`: Gemma's and
// Llama 2's normalizers spell spaces "▁" and their decoders turn every "▁" back into a space.
std::string LosslessForm(const std::string& name, std::string text) {
  if (name != "gemma3" && name != "llama2") return text;
  std::string out;
  for (size_t at = 0, next; at < text.size(); at = next + 3) {
    next = std::min(text.find("\xE2\x96\x81", at), text.size());
    out.append(text, at, next - at);
    if (next < text.size()) out += ' ';
  }
  return out;
}

class NpmTokenizerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(NpmTokenizerTest, SameIdsAsTokenizersJs) {
  const std::string name = GetParam();
  REQUIRE_NPM_REFERENCE(name);
  REQUIRE_FILE(WikiText());
  const std::vector<NamedText> texts = ComparisonTexts();
  const std::string dir = testing::MakeTempDir("npm_" + name);
  std::vector<std::string> files;
  for (size_t i = 0; i < texts.size(); ++i) {
    files.push_back(dir + "/text" + std::to_string(i) + ".txt");
    WriteFileText(files.back(), texts[i].text);
  }
  const std::vector<testing::JsEncoding> js = testing::JsEncode(testing::NpmTokenizerDir(name), files);
  ASSERT_EQ(js.size(), texts.size());

  const auto tokenizer = LoadHfTokenizer(testing::NpmTokenizerDir(name) + "/tokenizer.json");
  const std::vector<int> prefix = tokenizer->PrefixIds(), suffix = tokenizer->SuffixIds();
  for (size_t i = 0; i < texts.size(); ++i) {
    SCOPED_TRACE(name + " on " + texts[i].name);
    EXPECT_EQ(FindInvalidUtf8(texts[i].text) < 0, texts[i].valid_utf8);
    std::vector<int> ids = prefix;
    const std::vector<int> body = tokenizer->Encode(texts[i].text);
    ids.insert(ids.end(), body.begin(), body.end());
    ids.insert(ids.end(), suffix.begin(), suffix.end());
    size_t first_difference = 0;
    while (first_difference < std::min(ids.size(), js[i].ids.size()) && ids[first_difference] == js[i].ids[first_difference])
      ++first_difference;
    EXPECT_EQ(ids.size(), js[i].ids.size());
    EXPECT_EQ(first_difference, std::max(ids.size(), js[i].ids.size()))
        << "first different id at " << first_difference << ", after the text "
        << testing::ShellQuote(tokenizer->Decode(std::vector<int>(ids.begin() + long(prefix.size()),
                                                                  ids.begin() + long(std::max(first_difference, prefix.size()))),
                                                 -1, true).substr(0, 2000));
    const int bos = prefix.empty() ? -1 : prefix[0];
    const std::string decoded = tokenizer->Decode(body, bos, /*special_text=*/true);
    EXPECT_TRUE(decoded == js[i].decoded) << "decoded text differs from tokenizers.js's";
    if (texts[i].valid_utf8 && name != "qwen3") {  // Qwen's NFC is lossy on decomposed text
      const std::string expected = LosslessForm(name, texts[i].text);
      size_t at = 0;
      while (at < std::min(decoded.size(), expected.size()) && decoded[at] == expected[at]) ++at;
      EXPECT_TRUE(decoded == expected) << "decode(encode(x)) != x from byte " << at << ": "
                                       << testing::ShellQuote(decoded.substr(at, 40)) << " vs "
                                       << testing::ShellQuote(expected.substr(at, 40));
    } else if (texts[i].valid_utf8 && texts[i].name != "adversarial" && texts[i].name != "random code points") {
      EXPECT_TRUE(decoded == texts[i].text) << "decode(encode(x)) != x";
    }
    std::printf("%s, %s: %zu ids, %s\n", name.c_str(), texts[i].name.c_str(), ids.size(),
                ids == js[i].ids ? "identical to tokenizers.js" : "DIFFERENT");
  }
}

// Llama 2's tokenizer.json is SentencePiece BPE spelled out: a "▁" dummy prefix, byte fallback
// and a decoder that strips the prefix again.
INSTANTIATE_TEST_SUITE_P(RealTokenizers, NpmTokenizerTest, ::testing::Values("llama2", "llama3", "qwen3", "gemma3"));

}  // namespace
}  // namespace quip
