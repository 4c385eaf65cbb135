// quip: compress Llama models to 2-4 bits with incoherence processing and LDLQ,
// and run them. Every error reaches here as one line naming the file and problem.
#include <fmt/core.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "cli/commands.h"
#include "core/blas_kernels.h"
#include "core/error.h"
#include "core/resources.h"

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

// Exit status of a usage error (unknown option or command, missing, repeated or
// invalid option value), as in most Unix tools; every other error exits 1.
constexpr int kUsageError = 2;

// CLI11's wording for a repeated option ("--temp: At Most 1 required but received 2")
// in plain words; other messages pass unchanged.
static std::string UsageMessage(const CLI::Error& e) {
  std::string message = e.what();
  const size_t at_most = message.find("At Most 1 required but received");
  if (at_most != std::string::npos) message = message.substr(0, at_most) + "given more than once (give it once)";
  return message;
}

// Ends the process after an error without exit(): under an address-space limit an
// OpenBLAS server thread can be stuck retrying its buffer mmap forever, and OpenBLAS's
// exit handler would join it. Outputs are complete or already removed by then
// (temporary folders are unwound before main's handlers run).
[[noreturn]] static void ExitAfterError(int status) {
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(status);
}

int main(int argc, char** argv) {
  quip::UseBlasKernelsForThisCpu(argv);
  quip::ShareOneMallocArena();
  CLI::App app{"quip: 2-4 bit LLM quantization with incoherence processing (QuIP)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("quip ") + QUIP_VERSION);
  // A repeated option is an error, not "the last one wins" (a typo in a long command
  // line would otherwise silently replace a value). Subcommands inherit this default.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::Throw);
  quip::RegisterInfoCommand(app);
  quip::RegisterPplCommand(app);
  quip::RegisterGenerateCommand(app);
  quip::RegisterQuantizeCommand(app);
  quip::RegisterAblateCommand(app);
  quip::RegisterBenchCommand(app);
  quip::RegisterTokenizeCommand(app);
  quip::RegisterFinetuneCommand(app);
  std::string commands;
  bool known = false;
  for (const CLI::App* sub : app.get_subcommands(std::function<bool(CLI::App*)>())) {
    commands += (commands.empty() ? "" : ", ") + sub->get_name();
    known = known || (argc > 1 && sub->get_name() == argv[1]);
  }
  // The first word names the command; CLI11 would only say "A subcommand is required".
  if (argc > 1 && argv[1][0] != '-' && !known) {
    fmt::print(stderr, "quip: error: unknown command '{}' (commands: {}; see quip --help)\n", OneLine(argv[1]),
               commands);
    ExitAfterError(kUsageError);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version: stdout, status 0
    if (argc == 1) {
      fmt::print(stderr, "quip: error: a command is required ({}; see quip --help)\n", commands);
    } else {
      fmt::print(stderr, "quip: error: {} (see quip {}--help)\n", OneLine(UsageMessage(e).c_str()),
                 app.get_subcommands().empty() ? "" : app.get_subcommands()[0]->get_name() + " ");
    }
    ExitAfterError(kUsageError);
  } catch (const std::exception& e) {  // quip::Error and everything else
    fmt::print(stderr, "quip: error: {}\n", OneLine(e.what()));
    ExitAfterError(1);
  }
  return 0;
}
