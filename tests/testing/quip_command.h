// The real `quip` binary run from CLI tests, and numbers read from what it printed.
#pragma once

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "testing/tiny_model.h"

namespace quip::testing {

inline SplitCommandResult Quip(const std::string& args) {
  return RunCommandSplit(ShellQuote(QuipBinary()) + " " + args);
}

// The first capture group of `pattern` in `text` as a number; a test failure when absent.
inline double Match(const std::string& text, const std::string& pattern) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(pattern))) {
    ADD_FAILURE() << "no match for " << pattern << " in:\n" << text;
    return 0.0;
  }
  return std::stod(m[1]);
}

}  // namespace quip::testing
