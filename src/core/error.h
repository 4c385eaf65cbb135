// Error handling for quip: every fallible operation throws quip::Error with a
// message that names the file (or object) and what is wrong with it. The CLI
// catches it at the top and prints one line, so a bad input never crashes.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <utility>

namespace quip {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws Error("<where>: <formatted message>").
template <typename... Args>
[[noreturn]] void Fail(const std::string& where, fmt::format_string<Args...> format, Args&&... args) {
  throw Error(where + ": " + fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace quip

// Checks a condition on untrusted input; on failure throws quip::Error naming `where`.
#define QUIP_CHECK_INPUT(cond, where, ...)     \
  do {                                         \
    if (!(cond)) ::quip::Fail(where, __VA_ARGS__); \
  } while (0)

// Checks an internal invariant (a bug if it fails, not bad input).
#define QUIP_ASSERT(cond)                                                                   \
  do {                                                                                      \
    if (!(cond))                                                                            \
      throw ::quip::Error(fmt::format("internal error at {}:{}: {}", __FILE__, __LINE__, #cond)); \
  } while (0)
