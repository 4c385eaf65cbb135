#include "testing/shipped_files.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "testing/tiny_model.h"

namespace quip::testing {
namespace fs = std::filesystem;

// sha256sum / stat -c %s of the committed files. Update together with the file.
const std::vector<ShippedFile>& ShippedFiles() {
  static const std::vector<ShippedFile> files = {
      {"models/books-llama-5m/config.json", 691, "03808daa756ca0a6fddc4b7e7011961712cb63427336ff5c51912ac0a7fe206a"},
      {"models/books-llama-5m/model.safetensors", 27282456,
       "f1c537c2b1462d3413132491a3f5cb1f349c7b61c768f676122fba359e2c3f61"},
      {"models/books-llama-5m/tokenizer.model", 62311,
       "892e38238b85ba6a854c9cf19a275ab5a4f0c5091824a0b1dc3692ee319e85f3"},
      {"models/stories260K/stories260K.bin", 1056540,
       "b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696"},
      {"models/stories260K/tok512.bin", 6227, "037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312"},
      {"data/books/train.txt", 11764832, "be8f35039504b2628471f3729bbe9fe513007e3748f546d03c6be1be8628c029"},
      {"data/books/valid.txt", 547466, "c7e335f9dff49de119db1b77341a856897697621b36774ae721e2c8ef76aaa48"},
      {"data/tinystories/tinystories-train-head.txt", 197290,
       "727e8b228375be3075114c20729c93ed6e81ae5d8fe7faf7cb54b304f0322d70"},
  };
  return files;
}

std::string CheckShippedFileSize(const ShippedFile& file) {
  const fs::path path = fs::path(SourceDir()) / file.path;
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return path.string() + " is missing (" + ec.message() + "); it is part of the repository";
  if (int64_t(size) == file.bytes) return "";
  std::string head(std::min<uintmax_t>(size, 64), '\0');
  std::ifstream(path, std::ios::binary).read(head.data(), std::streamsize(head.size()));
  if (head.rfind("version https://git-lfs", 0) == 0)
    return path.string() + " is a Git LFS pointer, not the file (run `git lfs pull`)";
  return path.string() + " has " + std::to_string(size) + " bytes, expected " + std::to_string(file.bytes) +
         (int64_t(size) < file.bytes ? " (truncated)" : " (changed)");
}

}  // namespace quip::testing
