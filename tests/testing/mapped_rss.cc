#include "testing/mapped_rss.h"

#include <cctype>
#include <filesystem>
#include <fstream>

namespace quip::testing {

int64_t MappedRss(const std::string& path) {
  const std::string target = std::filesystem::canonical(path).string();
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  int64_t kb = 0;
  while (std::getline(smaps, line)) {
    if (!line.empty() && std::isxdigit(static_cast<unsigned char>(line[0])) && line.find('-') < line.find(' ')) {
      // "start-end perms offset dev inode   path": a new mapping.
      const size_t slash = line.find('/');
      inside = slash != std::string::npos && line.substr(slash) == target;
    } else if (inside && line.rfind("Rss:", 0) == 0) {
      kb += std::stoll(line.substr(4));
    }
  }
  return kb * 1024;
}

}  // namespace quip::testing
