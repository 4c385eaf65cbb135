#include "cli/options.h"

#include <fmt/core.h>

#include <cmath>

#include "core/error.h"

namespace quip {

CLI::Validator InRange(double lo, double hi, bool lo_open) {
  const std::string range = std::isinf(hi) ? fmt::format("{} {}", lo_open ? ">" : ">=", lo)
                                           : fmt::format("in {}{}, {}]", lo_open ? "(" : "[", lo, hi);
  return CLI::Validator(
      [=](std::string& text) -> std::string {
        double value = 0;
        const bool ok = CLI::detail::lexical_cast(text, value) && std::isfinite(value) &&
                        (lo_open ? value > lo : value >= lo) && value <= hi;
        return ok ? std::string() : fmt::format("must be {}, got '{}'", range, text);
      },
      fmt::format("{}{}, {}{}", lo_open ? "(" : "[", lo, hi, std::isinf(hi) ? ")" : "]"));
}

CLI::Validator AcceptedBy(const std::function<void(const std::string&)>& parse, const std::string& what) {
  return CLI::Validator(
      [parse](std::string& text) -> std::string {
        try {
          parse(text);
          return {};
        } catch (const Error& e) {
          // The parser names itself ("--rounding: ..."); CLI11 names the option already.
          const std::string message = e.what();
          const size_t colon = message.find(": ");
          return colon == std::string::npos ? message : message.substr(colon + 2);
        }
      },
      what);
}

}  // namespace quip
