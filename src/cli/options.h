// Option validation shared by every `quip` command: a bad option value is a usage
// error (exit 2) that names the option and the valid range, raised while parsing,
// before any work (issue 13), never a NaN or a failure later in the run.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <limits>
#include <string>

namespace quip {

constexpr double kNoLimit = std::numeric_limits<double>::infinity();

// A finite number in [lo, hi] ((lo, hi] with lo_open); NaN and infinities are rejected.
// For integer and floating-point options alike: "--top-p: must be in (0, 1], got 'nan'".
CLI::Validator InRange(double lo, double hi, bool lo_open = false);

// Accepts what `parse` accepts; the quip::Error it throws becomes the usage error.
// Keeps the valid names in one place (the parser), e.g. --method, --rounding.
CLI::Validator AcceptedBy(const std::function<void(const std::string&)>& parse, const std::string& what);

}  // namespace quip
