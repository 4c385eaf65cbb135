// A scratch folder filled with sentinel files, for tests of what quip may write or delete:
// after a case every sentinel must still be there with its content, and (after Snapshot())
// no entry may have appeared or vanished anywhere below the folder.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "testing/tiny_model.h"

namespace quip::testing {

inline std::string ReadFileText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFileText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

class Scratch {
 public:
  explicit Scratch(const std::string& name) : root_(MakeTempDir(name)) {}
  const std::filesystem::path& root() const { return root_; }
  std::string operator/(const std::string& relative) const { return (root_ / relative).string(); }

  // Creates root/relative (and its parents) holding a text that names it.
  std::filesystem::path Sentinel(const std::filesystem::path& relative) {
    const std::filesystem::path path = root_ / relative;
    std::filesystem::create_directories(path.parent_path());
    const std::string text = "sentinel " + relative.string() + "\n";
    WriteFileText(path, text);
    sentinels_[path] = text;
    return path;
  }
  // Records every entry below root, for ExpectUntouched.
  void Snapshot() { entries_ = Entries(); }
  void ExpectUntouched() const {
    for (const auto& [path, text] : sentinels_) {
      EXPECT_TRUE(std::filesystem::is_regular_file(std::filesystem::symlink_status(path))) << path << " is gone";
      EXPECT_EQ(ReadFileText(path), text) << path << " changed";
    }
    EXPECT_EQ(Entries(), entries_) << "entries appeared or vanished in " << root_;
  }

 private:
  std::set<std::filesystem::path> Entries() const {
    std::set<std::filesystem::path> found;
    for (const auto& e : std::filesystem::recursive_directory_iterator(root_)) found.insert(e.path());
    return found;
  }
  std::filesystem::path root_;
  std::map<std::filesystem::path, std::string> sentinels_;
  std::set<std::filesystem::path> entries_;
};

}  // namespace quip::testing
