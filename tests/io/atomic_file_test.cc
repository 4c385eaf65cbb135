// io/atomic_file.h: the file appears complete or not at all, and the temp name never
// clobbers a file that quip did not write. References: the file contents read back.
#include "io/atomic_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {
namespace fs = std::filesystem;

std::string Slurp(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(AtomicFile, CommitPublishesTheWholeFileAndDropRemovesTheTemp) {
  const fs::path dir = testing::MakeTempDir("atomic-file");
  WriteFileAtomically((dir / "a.txt").string(), "hello");
  EXPECT_EQ(Slurp(dir / "a.txt"), "hello");
  {
    AtomicFile dropped((dir / "b.txt").string());
    dropped.Write("half");
  }
  EXPECT_FALSE(fs::exists(dir / "b.txt"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1) << "a temp file was left";
}

TEST(AtomicFile, AFileThatHasTheTempNameIsNeitherTruncatedNorRemoved) {
  const fs::path dir = testing::MakeTempDir("atomic-file-clash");
  const fs::path target = dir / "c.txt";
  const fs::path clash = target.string() + ".tmp." + std::to_string(::getpid());
  std::ofstream(clash) << "a user's file";
  EXPECT_THROW(AtomicFile file(target.string()), Error);
  EXPECT_EQ(Slurp(clash), "a user's file");
  EXPECT_FALSE(fs::exists(target));
}

}  // namespace
}  // namespace quip
