// Read-only memory map of a whole file. Weights of F32 safetensors and llama2.c
// checkpoints are used in place from the map, never copied; the loaders drop a tensor's pages
// after checking it (ReleaseMappedPages), so a page is resident while it is used, not because
// it was loaded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace quip {

class MappedFile {
 public:
  // Throws quip::Error naming `path` if it cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Drops the pages inside [data, data + bytes) from this process's resident set where they
// belong to a read-only file mapping (touched again, they come back from the page cache);
// other memory is left alone. Best effort: nothing happens where /proc/self/maps is unreadable.
void ReleaseMappedPages(const void* data, size_t bytes);

// Reads one byte of every page in [data, data + bytes), making a mapped range resident
// (ReleaseMappedPages' opposite) where a caller is about to read all of it anyway.
void TouchPages(const void* data, size_t bytes);

}  // namespace quip
