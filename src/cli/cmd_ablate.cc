// quip ablate --model DIR --calib FILE --eval FILE[,FILE] --bits 2,3,4 [--out DIR [--force]]
// Reproduces the structure of the QuIP paper's tables (src/pipeline/ablation.h).
#include <fmt/core.h>

#include <filesystem>

#include "cli/commands.h"
#include "cli/options.h"
#include "io/atomic_file.h"
#include "io/output_dir.h"
#include "model/forward.h"
#include "pipeline/ablation.h"

namespace quip {

void RegisterAblateCommand(CLI::App& app) {
  struct Options {
    AblationOptions ablation;
    std::string out;
    bool force = false;
    int threads = 0;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("ablate", "Quantize with every method and pre-processing sub-step, score each");
  cmd->add_option("--model", o->ablation.model, "Model folder or llama2.c .bin")->required();
  cmd->add_option("--calib", o->ablation.calib, "Calibration text")->required();
  cmd->add_option("--eval", o->ablation.evals, "Evaluation texts")->required()->delimiter(',');
  cmd->add_option("--bits", o->ablation.bits, "Bit widths")->delimiter(',')->capture_default_str()->check(InRange(2, 4));
  cmd->add_option("--nsamples", o->ablation.nsamples, "Calibration windows")
      ->capture_default_str()
      ->check(InRange(1, kNoLimit));
  cmd->add_option("--ctx", o->ablation.ctx, "Window length (calibration and evaluation)")
      ->capture_default_str()
      ->check(InRange(2, kNoLimit));
  cmd->add_option("--eval-windows", o->ablation.eval_windows, "Windows scored per text (0 = all)")
      ->check(InRange(0, kNoLimit));
  cmd->add_option("--seed", o->ablation.seed, "Seed")->capture_default_str()->check(InRange(0, kNoLimit));
  // Row names are checked while parsing: a typo must not surface after hours of runs.
  std::string rows;
  for (const AblationRow& row : PaperAblationRows()) rows += (rows.empty() ? "" : ", ") + row.name;
  cmd->add_option("--only", o->ablation.only, "Run only these rows (e.g. QuIP,OPTQ)")
      ->delimiter(',')
      ->check(CLI::Validator(
          [rows](std::string& name) -> std::string {
            for (const AblationRow& row : PaperAblationRows())
              if (row.name == name) return {};
            return fmt::format("unknown row '{}' (rows: {})", name, rows);
          },
          "ROW"));
  cmd->add_option("--out", o->out, "Folder for ablate.json and ablate.md (default: print Markdown only)");
  cmd->add_option("--threads", o->threads, "Worker threads (0 = all cores; capped at the hardware threads)")
      ->check(InRange(0, kNoLimit));
  cmd->add_flag("--force", o->force, "Replace an existing --out folder that quip wrote");
  cmd->callback([o] {
    SetThreads(o->threads);
    std::vector<std::string> inputs{o->ablation.model, o->ablation.calib};
    inputs.insert(inputs.end(), o->ablation.evals.begin(), o->ablation.evals.end());
    if (!o->out.empty()) CheckOutputDir(o->out, inputs, o->force);  // before any work (io/output_dir.h)
    const nlohmann::json results =
        RunAblation(o->ablation, [](const std::string& line) { fmt::print(stderr, "{}\n", line); });
    const std::string md = AblationMarkdown(results);
    if (!o->out.empty()) {
      StagedOutputDir staged(o->out, inputs, o->force);
      WriteFileAtomically((staged.path() / "ablate.json").string(), results.dump(2) + "\n");
      WriteFileAtomically((staged.path() / "ablate.md").string(), md);
      staged.Commit();
    }
    fmt::print("{}", md);
  });
}

}  // namespace quip
