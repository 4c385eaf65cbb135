// Tokenizers on real files: SentencePiece (books-llama-5m tokenizer.model) against the
// count in the model's README, and the llama2.c tokenizer (embedded tok512.bin)
// against tools/llama2c_tokenize.py, a plain Python port of llama2.c's quadratic
// encode(). Decoding round-trips the text.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "pipeline/load.h"
#include "testing/tiny_model.h"
#include "text/text_file.h"
#include "text/tokenizer.h"

namespace quip {
namespace {
namespace fs = std::filesystem;
using testing::BooksValid;
using testing::ShellQuote;
using testing::TinyStoriesText;

std::string BooksTokenizer() { return testing::BooksModel() + "/tokenizer.model"; }
std::string Tok512() { return testing::StoriesModel() + "/tok512.bin"; }


// README of books-llama-5m: validation text (Dorian Gray, Metamorphosis) is 154,334 tokens.
TEST(SentencePiece, BooksValidTokenCount) {
  const auto tokenizer = LoadSentencePieceTokenizer(BooksTokenizer());
  EXPECT_EQ(tokenizer->vocab_size(), 4096);
  const std::vector<int> ids = tokenizer->Encode(ReadTextFile(BooksValid()));
  EXPECT_EQ(ids.size(), 154334u);
}

// Reference: libsentencepiece on the whole text in one call (the protocol's definition).
// Encoding in 4 KiB pieces cut at single spaces must give the very same ids.
TEST(SentencePiece, ChunkedEncodingEqualsWholeText) {
  const std::string text = ReadTextFile(BooksValid());
  const auto whole = LoadSentencePieceTokenizer(BooksTokenizer(), SIZE_MAX)->Encode(text);
  const auto chunked = LoadSentencePieceTokenizer(BooksTokenizer(), 4096)->Encode(text);
  ASSERT_EQ(chunked.size(), whole.size());
  EXPECT_TRUE(chunked == whole);
}

TEST(SentencePiece, DecodeRoundTrip) {
  const auto tokenizer = LoadSentencePieceTokenizer(BooksTokenizer());
  const std::string text = ReadTextFile(BooksValid()).substr(0, 20000);  // ASCII prefix: cut anywhere
  const std::string texts[] = {text, "It was a dark and stormy night,\n\n  and 1984 digits \xC3\xA9t\xC3\xA9 \xF0\x9F\x98\x80 end"};
  for (const std::string& t : texts) {
    const std::vector<int> ids = tokenizer->Encode(t);
    ASSERT_FALSE(ids.empty());
    for (int id : ids) ASSERT_TRUE(id >= 3 && id < 4096) << id;  // no BOS/EOS/unk (byte fallback)
    EXPECT_EQ(tokenizer->Decode(ids, 1), t);
  }
}

// Token ids printed by the Python port of llama2.c's encode() for the text in `path`.
std::vector<int> PythonLlama2cEncode(const std::string& path) {
  const auto r = testing::RunCommandSplit("/usr/bin/python3 " +
                                          ShellQuote(testing::SourceDir() + "/tools/llama2c_tokenize.py") +
                                          " --tokenizer " + ShellQuote(Tok512()) + " --vocab 512 --text " + ShellQuote(path));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<int> ids;
  std::istringstream in(r.out);
  for (int id; in >> id;) ids.push_back(id);
  return ids;
}

void ExpectSameAsLlama2c(const Tokenizer& tokenizer, const std::string& text, const std::string& name) {
  const std::string path = testing::MakeTempDir("llama2c-tok-" + name) + "/text.txt";
  std::ofstream(path, std::ios::binary) << text;
  const std::vector<int> expected = PythonLlama2cEncode(path);
  const std::vector<int> ids = tokenizer.Encode(text);
  ASSERT_FALSE(ids.empty());
  ASSERT_EQ(ids.size(), expected.size()) << name;
  for (size_t i = 0; i < ids.size(); ++i) ASSERT_EQ(ids[i], expected[i]) << name << ": first difference at token " << i;
  EXPECT_EQ(tokenizer.Decode(ids, 1), text) << name << ": decode round trip";
}

// The first paragraphs of TinyStories, plus paragraphs with non-ASCII characters (byte fallback).
TEST(Llama2cTokenizer, MatchesPythonPortOnTinyStories) {
  const auto tokenizer = LoadLlama2cTokenizer(Tok512(), 512);
  std::ifstream in(TinyStoriesText());
  std::string line, plain, unicode;
  int plain_lines = 0, unicode_lines = 0;
  while (std::getline(in, line) && (plain_lines < 6 || unicode_lines < 3)) {
    const bool ascii = std::all_of(line.begin(), line.end(), [](char c) { return (unsigned char)c < 0x80; });
    if (ascii && plain_lines < 6) {
      plain += line + "\n";
      ++plain_lines;
    } else if (!ascii && unicode_lines < 3) {
      unicode += line + "\n";
      ++unicode_lines;
    }
  }
  ASSERT_EQ(unicode_lines, 3);
  ExpectSameAsLlama2c(*tokenizer, plain, "plain");
  ExpectSameAsLlama2c(*tokenizer, unicode, "unicode");
}

TEST(Llama2cTokenizer, MatchesPythonPortOnEdgeCases) {
  const auto tokenizer = LoadLlama2cTokenizer(Tok512(), 512);
  const std::pair<std::string, std::string> cases[] = {
      {"spaces", "  two  spaces   and three\t\ttabs  "},
      {"newlines", "\n\nLily said, \"Hi!\"\n\n\nThe end.\n"},
      {"digits", "In 1984 there were 12345 cats and 0 dogs."},
      {"emoji", "Tom saw a \xF0\x9F\x98\x80 and a \xE2\x98\x83 on the caf\xC3\xA9 roof."},
      {"cjk", "\xE4\xBD\xA0\xE5\xA5\xBD world"},
      {"single", "a"},
  };
  for (const auto& [name, text] : cases) ExpectSameAsLlama2c(*tokenizer, text, name);
}

TEST(Llama2cTokenizer, EmbeddedModelFindsTok512) {
  const Model model = LoadModel(testing::StoriesModel());
  const auto tokenizer = LoadTokenizer(model);
  EXPECT_EQ(tokenizer->vocab_size(), 512);
  EXPECT_TRUE(tokenizer->Encode("").empty());
  EXPECT_EQ(tokenizer->TokenBytes(1), "");  // <s>
  EXPECT_EQ(tokenizer->TokenBytes(3 + 'A'), "A");  // byte fallback <0x41>
}

}  // namespace
}  // namespace quip
