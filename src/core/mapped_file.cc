#include "core/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace quip {

MappedFile::MappedFile(const std::string& path) : path_(path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Fail(path, "cannot open: {}", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    Fail(path, "not a regular file");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      Fail(path, "cannot mmap {} bytes: {}", size_, std::strerror(err));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
}

void ReleaseMappedPages(const void* data, size_t bytes) {
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (uintptr_t(data) + page - 1) / page * page, end = (uintptr_t(data) + bytes) / page * page;
  if (begin >= end) return;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // "start-end perms offset dev inode [path]": file-backed when the inode is not 0.
    std::istringstream in(line);
    std::string range, perms, offset, dev;
    uint64_t inode = 0;
    in >> range >> perms >> offset >> dev >> inode;
    const size_t dash = range.find('-');
    if (dash == std::string::npos || perms.size() < 2) continue;
    const uintptr_t lo = std::stoull(range.substr(0, dash), nullptr, 16), hi = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (hi <= begin || lo >= end || inode == 0 || perms[1] == 'w') continue;
    const uintptr_t a = std::max(lo, begin), b = std::min(hi, end);
    // Read-only file pages: dropping them loses nothing (anonymous memory would be zeroed).
    madvise(reinterpret_cast<void*>(a), b - a, MADV_DONTNEED);
  }
}

void TouchPages(const void* data, size_t bytes) {
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  const volatile uint8_t* p = static_cast<const uint8_t*>(data);
  uint8_t sink = 0;
  for (size_t i = 0; i < bytes; i += page) sink ^= p[i];
  if (bytes > 0) sink ^= p[bytes - 1];
  (void)sink;
}

}  // namespace quip
