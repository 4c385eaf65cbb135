// Writes a file so that readers see either the old state or the complete new
// file, never a half-written one: data goes to "<path>.tmp.<pid>", is flushed,
// and is renamed over `path` by Commit(). Without Commit() the temp file is removed.
#pragma once

#include <cstdio>
#include <string>

namespace quip {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void Write(const void* data, size_t size);
  void Write(const std::string& text) { Write(text.data(), text.size()); }
  void Commit();

 private:
  std::string path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
};

// Convenience: atomically replaces `path` with `contents`.
void WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace quip
