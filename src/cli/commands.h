// Each `quip` subcommand registers itself on the CLI11 app; main() runs the chosen one.
#pragma once

#include <CLI/CLI.hpp>

namespace quip {

void RegisterInfoCommand(CLI::App& app);
void RegisterPplCommand(CLI::App& app);
void RegisterGenerateCommand(CLI::App& app);
void RegisterQuantizeCommand(CLI::App& app);
void RegisterAblateCommand(CLI::App& app);
void RegisterBenchCommand(CLI::App& app);
void RegisterTokenizeCommand(CLI::App& app);
void RegisterFinetuneCommand(CLI::App& app);

}  // namespace quip
