// The real models and texts the repository ships, with their expected byte sizes and
// SHA-256 sums. A clone without Git LFS, a truncated copy or a hand-edited file would
// otherwise show up as a confusing numeric failure (or a skip) far from the cause.
//
// Every test binary linked with quip_add_test checks the sizes before its tests run
// (shipped_files_check.cc, a stat per file); ShippedFiles.MatchTheirSha256 (tests/model)
// checks the content once per suite.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace quip::testing {

struct ShippedFile {
  const char* path;  // relative to the source tree
  int64_t bytes;
  const char* sha256;
};
const std::vector<ShippedFile>& ShippedFiles();

// "" when SourceDir()/file.path exists with the expected size, else one line naming the
// file and what is wrong (missing, a Git LFS pointer, truncated or grown).
std::string CheckShippedFileSize(const ShippedFile& file);

}  // namespace quip::testing
