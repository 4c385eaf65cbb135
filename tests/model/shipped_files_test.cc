// The shipped models and texts are the committed bytes: sizes (also checked before every
// test binary runs, testing/shipped_files_check.cc) and SHA-256 sums computed by coreutils'
// sha256sum, against the table in testing/shipped_files.cc.
#include "testing/shipped_files.h"

#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "testing/tiny_model.h"

namespace quip {
namespace {

TEST(ShippedFiles, MatchTheirSizeAndSha256) {
  for (const testing::ShippedFile& file : testing::ShippedFiles()) {
    SCOPED_TRACE(file.path);
    const std::string problem = testing::CheckShippedFileSize(file);
    ASSERT_EQ(problem, "");
    const auto r = testing::RunCommandSplit("sha256sum " + testing::ShellQuote(testing::SourceDir() + "/" + file.path));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.substr(0, 64), file.sha256) << testing::SourceDir() << "/" << file.path
                                                << " differs from the committed file";
  }
}

// The size check names the file and says what is wrong.
TEST(ShippedFiles, SizeCheckNamesTheFile) {
  testing::ShippedFile truncated = testing::ShippedFiles().front();
  truncated.bytes += 1;
  const std::string problem = testing::CheckShippedFileSize(truncated);
  EXPECT_NE(problem.find(truncated.path), std::string::npos) << problem;
  EXPECT_NE(problem.find("truncated"), std::string::npos) << problem;
  const testing::ShippedFile missing{"models/no-such-file", 1, ""};
  EXPECT_NE(testing::CheckShippedFileSize(missing).find("models/no-such-file is missing"), std::string::npos);
  // A clone without Git LFS holds pointer files (an absolute path replaces the source dir).
  const std::string pointer = testing::MakeTempDir("shipped-files") + "/model.safetensors";
  std::ofstream(pointer) << "version https://git-lfs.github.com/spec/v1\noid sha256:f1c5\nsize 27282456\n";
  const std::string lfs = testing::CheckShippedFileSize({pointer.c_str(), 27282456, ""});
  EXPECT_NE(lfs.find(pointer + " is a Git LFS pointer"), std::string::npos) << lfs;
}

void RequireMissingFile() { REQUIRE_FILE(std::string("/nonexistent/quip-required-file")); }

// REQUIRE_FILE (files from ../shared) fails, naming the file, under scripts/test.sh.
TEST(RequireFile, MissingFileFailsWhenRequired) {
  ::setenv("QUIP_REQUIRE_FILES", "1", 1);
  EXPECT_FATAL_FAILURE(RequireMissingFile(), "required file /nonexistent/quip-required-file is not present");
}

}  // namespace
}  // namespace quip
