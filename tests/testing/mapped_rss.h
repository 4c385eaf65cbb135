// Resident bytes of this process's mappings of one file, the kernel's own count (the Rss lines
// of /proc/self/smaps): what tests of page release (core/mapped_file.h ReleaseMappedPages)
// read.
#pragma once

#include <cstdint>
#include <string>

namespace quip::testing {

int64_t MappedRss(const std::string& path);

}  // namespace quip::testing
