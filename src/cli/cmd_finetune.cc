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
  std::string model, teacher, calib, out, checkpoint;
  int steps = 200, windows = 64, valid_windows = 4, ctx = 256, eval_every = 20, threads = 0;
  double lr = 1e-3;
  uint64_t seed = 0;
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
  CheckOutputDir(o.out, {o.model, o.teacher, o.calib}, o.force);  // before any work (io/output_dir.h)
  Model student = RunStep("loading " + o.model, [&] { return LoadModel(o.model); });
  QUIP_CHECK_INPUT(student.format == "quip", o.model, "is not a quantized quip folder (quantize it first)");
  const Model teacher = RunStep("loading " + o.teacher, [&] { return LoadModel(o.teacher); });
  QUIP_CHECK_INPUT(teacher.format != "quip", o.teacher, "is quantized: the teacher must be the fp32 model");
  QUIP_CHECK_INPUT(o.ctx <= student.config.max_seq_len, o.model, "--ctx {} exceeds max_position_embeddings {}", o.ctx,
                   student.config.max_seq_len);
  const auto tokenizer = LoadTokenizer(student);
  Progress tokenizing("tokenizing " + o.calib);
  // Windows framed as perplexity's (BOS first); the last valid_windows are held out.
  CalibrationSample sample =
      SampleCalibrationWindowsFromText(ReadTextFile(o.calib), *tokenizer, o.windows + o.valid_windows, o.ctx,
                                       student.config.bos_id, o.seed, o.calib, /*with_bos=*/true);
  tokenizing.Finish();
  std::vector<std::vector<int>> valid(sample.windows.end() - o.valid_windows, sample.windows.end());
  sample.windows.resize(o.windows);

  train::FinetuneOptions options;
  options.steps = o.steps;
  options.lr = o.lr;
  options.eval_every = o.eval_every;
  options.checkpoint = o.checkpoint;
  // One progress step per stretch between held-out measurements: its final line carries the
  // mean training loss of the stretch and the held-out KL.
  train::FinetuneResult r;
  {
    std::optional<Progress> stretch;
    int first = 1;
    double loss_sum = 0;
    auto open = [&](int from) {
      first = from;
      loss_sum = 0;
      stretch.emplace(fmt::format("finetune steps {}-{}", from, std::min(o.steps, from + o.eval_every - 1)));
    };
    open(1);
    r = train::Finetune(student, teacher, sample.windows, valid, options,
                        [&](int step, int total, double loss, double kl) {
                          loss_sum += loss;
                          stretch->Update(step - first + 1, std::min(total, first + o.eval_every - 1) - first + 1);
                          if (kl < 0) return;
                          stretch->Finish(fmt::format("mean loss {:.5f}, held-out KL {:.5f}",
                                                      loss_sum / (step - first + 1), kl));
                          if (step < total) open(step + 1);
                        });
  }
  const std::string source_dir = FolderOf(student);
  nlohmann::json report = nlohmann::json::object();
  if (std::filesystem::exists(source_dir + "/quant_report.json")) report = ReadJsonFile(source_dir + "/quant_report.json");
  report["finetune"] = {{"teacher", o.teacher},       {"calib", o.calib},         {"windows", o.windows},
                        {"valid_windows", o.valid_windows}, {"ctx", o.ctx},      {"steps", o.steps},
                        {"lr", o.lr},                 {"seed", o.seed},           {"threads", WorkerThreads()},
                        {"valid_kl_before", r.valid_kl_before}, {"valid_kl_after", r.valid_kl_after},
                        {"best_step", r.best_step},   {"seconds", r.seconds}};
  std::map<std::string, std::string> metadata = RunMetadata(source_dir);
  metadata["quip.finetune"] = fmt::format("steps={} lr={} windows={} ctx={}", o.steps, o.lr, o.windows, o.ctx);
  Progress writing("writing " + o.out);
  WriteQuantizedModel(student, o.out, metadata, report, source_dir, o.force);
  writing.Finish();
  // The run is complete: its checkpoint (which only this command writes) has served.
  if (!o.checkpoint.empty()) std::filesystem::remove(o.checkpoint);
  if (r.resumed_from > 0) fmt::print("resumed from step {} of {}\n", r.resumed_from, o.steps);
  fmt::print("fine-tuned {} -> {}: held-out KL to {} {:.5f} -> {:.5f} (kept step {} of {}), {:.1f} s\n", o.model,
             o.out, o.teacher, r.valid_kl_before, r.valid_kl_after, r.best_step, o.steps, r.seconds);
}

}  // namespace

void RegisterFinetuneCommand(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "finetune", "Tune a quantized model's continuous parameters (codes frozen) to its fp32 teacher");
  cmd->add_option("--model", o->model, "Quantized quip folder")->required();
  cmd->add_option("--teacher", o->teacher, "The fp32 model it was quantized from")->required();
  cmd->add_option("--calib", o->calib, "Calibration text (UTF-8), not the evaluation text")->required();
  cmd->add_option("-o,--out", o->out, "Output folder (written atomically)")->required();
  cmd->add_option("--steps", o->steps, "Optimizer steps (one window each)")->capture_default_str()->check(InRange(1, kNoLimit));
  cmd->add_option("--lr", o->lr, "Peak learning rate (relative change per step)")
      ->capture_default_str()
      ->check(InRange(0, 1, /*lo_open=*/true));
  cmd->add_option("--windows", o->windows, "Training windows")->capture_default_str()->check(InRange(1, kNoLimit));
  cmd->add_option("--valid-windows", o->valid_windows, "Held-out windows (the kept parameters are the best on them)")
      ->capture_default_str()
      ->check(InRange(1, kNoLimit));
  cmd->add_option("--eval-every", o->eval_every, "Steps between held-out measurements")
      ->capture_default_str()
      ->check(InRange(1, kNoLimit));
  cmd->add_option("--ctx", o->ctx, "Tokens per window including BOS")->capture_default_str()->check(InRange(2, kNoLimit));
  cmd->add_option("--seed", o->seed, "Seed for the windows")->capture_default_str()->check(InRange(0, kNoLimit));
  cmd->add_option("--threads", o->threads, "Worker threads (0 = all cores; capped at the hardware threads)")
      ->check(InRange(0, kNoLimit));
  cmd->add_option("--checkpoint", o->checkpoint,
                  "State file written after every step; a run that finds one of the same options resumes from it "
                  "(removed when the output is written)");
  cmd->add_flag("--force", o->force, "Replace an existing output folder that quip wrote");
  cmd->callback([o] { Run(*o); });
}

}  // namespace quip
