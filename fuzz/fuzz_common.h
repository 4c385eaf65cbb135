// Shared helpers of the libFuzzer targets: the loaders read paths (memory maps), so each
// input is written to a per-process scratch file first. Only quip::Error may escape a
// loader; anything else (another exception, a crash, a sanitizer report) is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "core/error.h"

namespace quip::fuzz {

// A scratch folder unique to this process (libFuzzer -jobs/-workers run several).
inline const std::string& ScratchDir() {
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string d = std::string(base != nullptr ? base : "/tmp") + "/quip-fuzz-" + std::to_string(::getpid());
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

inline void WriteBytes(const std::string& path, const uint8_t* data, size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

// Runs `body`; quip::Error is the expected way to reject an input.
template <typename Body>
void ExpectOnlyQuipErrors(Body&& body) {
  try {
    body();
  } catch (const quip::Error&) {
  }
}

}  // namespace quip::fuzz
