// UTF-8 validation and text file reading (unit).
#include <gtest/gtest.h>

#include <fstream>

#include "core/error.h"
#include "testing/tiny_model.h"
#include "text/text_file.h"

namespace quip {
namespace {

TEST(Utf8, ValidTexts) {
  EXPECT_EQ(FindInvalidUtf8(""), -1);
  EXPECT_EQ(FindInvalidUtf8("plain ASCII\n\t"), -1);
  EXPECT_EQ(FindInvalidUtf8("caf\xC3\xA9"), -1);                  // U+00E9, 2 bytes
  EXPECT_EQ(FindInvalidUtf8("\xE2\x82\xAC 5"), -1);               // U+20AC, 3 bytes
  EXPECT_EQ(FindInvalidUtf8("\xF0\x9F\x98\x80"), -1);             // U+1F600, 4 bytes
  EXPECT_EQ(FindInvalidUtf8("\xF4\x8F\xBF\xBF"), -1);             // U+10FFFF, the last code point
  EXPECT_EQ(FindInvalidUtf8(std::string("a\0b", 3)), -1);         // NUL is valid UTF-8
}

TEST(Utf8, InvalidTexts) {
  EXPECT_EQ(FindInvalidUtf8("caf\xE9!"), 3);                      // Latin-1
  EXPECT_EQ(FindInvalidUtf8("ab\x80"), 2);                        // lone continuation byte
  EXPECT_EQ(FindInvalidUtf8("\xC0\x80"), 0);                      // overlong NUL
  EXPECT_EQ(FindInvalidUtf8("x\xE0\x80\xAF"), 1);                 // overlong '/'
  EXPECT_EQ(FindInvalidUtf8("\xED\xA0\x80"), 0);                  // UTF-16 surrogate U+D800
  EXPECT_EQ(FindInvalidUtf8("\xF4\x90\x80\x80"), 0);              // U+110000
  EXPECT_EQ(FindInvalidUtf8("ok\xF0\x9F\x98"), 2);                // truncated at the end
  EXPECT_EQ(FindInvalidUtf8("\xE2\x82" "A"), 0);                  // continuation missing
  EXPECT_EQ(FindInvalidUtf8("\xF8\x88\x80\x80\x80"), 0);          // 5-byte form
  EXPECT_EQ(FindInvalidUtf8("\xFF"), 0);
}

TEST(TextFile, ReadsAndRejects) {
  const std::string dir = testing::MakeTempDir("text-file");
  std::ofstream(dir + "/ok.txt") << "Once upon a time.\n";
  EXPECT_EQ(ReadTextFile(dir + "/ok.txt"), "Once upon a time.\n");
  std::ofstream(dir + "/empty.txt");
  std::ofstream(dir + "/bad.txt") << "abc\xFF";
  auto message = [](const std::string& path) {
    try {
      ReadTextFile(path);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message(dir + "/empty.txt"), dir + "/empty.txt: text file is empty");
  EXPECT_EQ(message(dir + "/bad.txt"), dir + "/bad.txt: text is not valid UTF-8 (first bad byte at offset 3)");
  EXPECT_EQ(message(dir + "/none.txt").rfind(dir + "/none.txt: cannot open", 0), 0u);
}

}  // namespace
}  // namespace quip
