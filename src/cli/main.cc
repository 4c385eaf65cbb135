// quip: compress Llama models to 2-4 bits with incoherence processing and LDLQ,
// and run them. Every error reaches here as one line naming the file and problem.
#include <fmt/core.h>

#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "core/error.h"

// The message on one line: control characters from untrusted names (a tensor called
// "a\nb", a file name with a newline) are escaped, so an error is always exactly one line.
static std::string OneLine(const char* message) {
  std::string out;
  for (const char* p = message; *p != '\0'; ++p) {
    const unsigned char ch = static_cast<unsigned char>(*p);
    if (ch == '\n') out += "\\n";
    else if (ch == '\r') out += "\\r";
    else if (ch == '\t') out += "\\t";
    else if (ch < 0x20 || ch == 0x7f) out += fmt::format("\\x{:02x}", ch);
    else out += *p;
  }
  return out;
}

int main(int argc, char** argv) {
  CLI::App app{"quip: 2-4 bit LLM quantization with incoherence processing (QuIP)"};
  app.require_subcommand(1);
  // Usage errors follow the same one-line format as every other error.
  app.failure_message([](const CLI::App*, const CLI::Error& e) {
    return fmt::format("quip: error: {} (see quip --help)\n", e.what());
  });
  quip::RegisterInfoCommand(app);
  quip::RegisterPplCommand(app);
  quip::RegisterGenerateCommand(app);
  quip::RegisterQuantizeCommand(app);
  quip::RegisterAblateCommand(app);
  quip::RegisterBenchCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const quip::Error& e) {
    fmt::print(stderr, "quip: error: {}\n", OneLine(e.what()));
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "quip: error: {}\n", OneLine(e.what()));
    return 1;
  }
  return 0;
}
