#include "io/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

namespace quip {

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  temp_path_ = path_ + ".tmp." + std::to_string(::getpid());
  // "x": never truncate a file that happens to have the temp name (quip writes only its own).
  file_ = std::fopen(temp_path_.c_str(), "wbx");
  if (file_ == nullptr) Fail(path_, "cannot create {}: {}", temp_path_, std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (file_ != nullptr) {
    std::fclose(file_);
    std::remove(temp_path_.c_str());
  }
}

void AtomicFile::Write(const void* data, size_t size) {
  QUIP_ASSERT(file_ != nullptr);
  if (size > 0 && std::fwrite(data, 1, size, file_) != size) Fail(path_, "write failed: {}", std::strerror(errno));
}

void AtomicFile::Commit() {
  QUIP_ASSERT(file_ != nullptr);
  const bool flushed = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!flushed || !closed) {
    std::remove(temp_path_.c_str());
    Fail(path_, "write failed: {}", std::strerror(errno));
  }
  if (std::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    const int err = errno;
    std::remove(temp_path_.c_str());
    Fail(path_, "cannot rename {} into place: {}", temp_path_, std::strerror(err));
  }
}

void WriteFileAtomically(const std::string& path, const std::string& contents) {
  AtomicFile file(path);
  file.Write(contents);
  file.Commit();
}

}  // namespace quip
