// Raw little-endian arrays that the NumPy reference scripts in tools/ write (ndarray.tofile).
#pragma once

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace quip::testing {

// The file's bytes as an array of T (a trailing partial element is dropped).
template <typename T>
std::vector<T> ReadBinary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<T> v(bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), bytes.data(), v.size() * sizeof(T));  // empty: data() may be null
  return v;
}

}  // namespace quip::testing
