// quip finetune --model QUANT_DIR --teacher FP_DIR --calib FILE -o OUT_DIR
//               [--steps N] [--lr R] [--windows K] [--ctx L] [--seed S] ...
// Fine-tuning after rounding (docs/finetune.md): the codes stay, the continuous
// parameters are tuned to the teacher's next-token distribution; the result is an
// ordinary quip folder.
#include <fmt/core.h>

#include <filesystem>
#include <map>
#include <optional>

#include "cli/commands.h"
#include "cli/finetune_run.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "io/json_file.h"
#include "io/output_dir.h"
#include "io/quip_format.h"
#include "model/forward.h"
#include "pipeline/calibration.h"
#include "pipeline/load.h"
#include "text/text_file.h"
#include "train/finetune.h"

namespace quip {
namespace {

struct Options {
  std::string model, teacher, out, dump_gradient;
  FinetuneRun run;
  int threads = 0;
  bool force = false;
};

std::string FolderOf(const Model& model) {
  const std::filesystem::path source = model.source;
  return (std::filesystem::is_directory(source) ? source : source.parent_path()).string();
}

// The source folder's run information ("quip.method", ...), from its config.json, carried over.
std::map<std::string, std::string> RunMetadata(const std::string& dir) {
  std::map<std::string, std::string> out;
  const nlohmann::json config = ReadJsonFile(dir + "/config.json");
  if (config.contains("quantization_config") && config["quantization_config"].is_object())
    for (const auto& [k, v] : config["quantization_config"].items())
      if (v.is_string() && k != "quant_method" && k != "format_version") out["quip." + k] = v.get<std::string>();
  return out;
}

void Run(const Options& o) {
  SetThreads(o.threads);
  CheckOutputDir(o.out, {o.model, o.teacher, o.run.calib}, o.force);  // before any work (io/output_dir.h)
  QUIP_CHECK_INPUT(o.dump_gradient.empty() || o.force || !std::filesystem::exists(o.dump_gradient), o.dump_gradient,
                   "exists (give --force to replace it)");
  Model student = RunStep("loading " + o.model, [&] { return LoadModel(o.model); });
  QUIP_CHECK_INPUT(student.format == "quip", o.model, "is not a quantized quip folder (quantize it first)");
  // Held so that --teacher-top-k can free it once its targets are computed.
  std::optional<Model> held_teacher = RunStep("loading " + o.teacher, [&] {
    return LoadModel(o.teacher, {.half_linears_on_use = true});  // run a block at a time (docs/finetune.md, Memory)
  });
  const Model& teacher = *held_teacher;
  QUIP_CHECK_INPUT(teacher.format != "quip", o.teacher, "is quantized: the teacher must be the fp32 model");
  train::CheckSameArchitecture(student, teacher);
  QUIP_CHECK_INPUT(o.run.ctx <= student.config.max_seq_len, o.model, "--ctx {} exceeds max_position_embeddings {}",
                   o.run.ctx, student.config.max_seq_len);
  const auto tokenizer = LoadTokenizer(student);
  if (!o.dump_gradient.empty()) {
    DumpFinetuneGradient(student, teacher, *tokenizer, o.run, o.dump_gradient);
    fmt::print("wrote the loss gradient of the first window to {}\n", o.dump_gradient);
    return;
  }
  const train::FinetuneResult r = RunFinetune(student, teacher, *tokenizer, o.run, [&] { held_teacher.reset(); });
  const std::string source_dir = FolderOf(student);
  nlohmann::json report = nlohmann::json::object();
  if (std::filesystem::exists(source_dir + "/quant_report.json"))
    report = ReadJsonFile(source_dir + "/quant_report.json");
  report["finetune"] = FinetuneReport(o.run, r, o.teacher);
  std::map<std::string, std::string> metadata = RunMetadata(source_dir);
  metadata["quip.finetune"] = FinetuneMetadata(o.run);
  Progress writing("writing " + o.out);
  WriteQuantizedModel(student, o.out, metadata, report, source_dir, o.force);
  writing.Finish();
  // The run is complete: its checkpoint (which only this command writes) has served.
  if (!o.run.checkpoint.empty()) std::filesystem::remove(o.run.checkpoint);
  if (r.resumed_from > 0) fmt::print("resumed from step {} of {}\n", r.resumed_from, o.run.steps);
  fmt::print("fine-tuned {} -> {}: held-out KL to {} {:.5f} -> {:.5f} (kept step {} of {}), {:.1f} s\n", o.model,
             o.out, o.teacher, r.valid_kl_before, r.valid_kl_after, r.best_step, o.run.steps, r.seconds);
}

}  // namespace

void RegisterFinetuneCommand(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "finetune", "Tune a quantized model's continuous parameters (codes frozen) to its fp32 teacher");
  cmd->add_option("--model", o->model, "Quantized quip folder")->required();
  cmd->add_option("--teacher", o->teacher, "The fp32 model it was quantized from")->required();
  cmd->add_option("--calib", o->run.calib, "Calibration text (UTF-8), not the evaluation text")->required();
  cmd->add_option("-o,--out", o->out, "Output folder (written atomically)")->required();
  AddFinetuneOptions(*cmd, o->run, "--");
  cmd->add_option("--checkpoint", o->run.checkpoint,
                  "State file written after every step; a run that finds one of the same options resumes from it "
                  "(removed when the output is written)");
  cmd->add_option("--threads", o->threads, "Worker threads (0 = all cores; capped at the hardware threads)")
      ->check(InRange(0, kNoLimit));
  cmd->add_option("--dump-gradient", o->dump_gradient,
                  "Instead of tuning: write the loss gradient of the first window, in double, with the model's "
                  "frozen parts to this safetensors file (tools/finetune_grad_reference.py); -o is not written");
  cmd->add_flag("--force", o->force, "Replace an existing output folder that quip wrote");
  cmd->callback([o] { Run(*o); });
}

}  // namespace quip
