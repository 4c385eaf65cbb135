// quip quantize --model DIR --calib FILE --bits {2,3,4} --method M -o OUT_DIR
//               [--nsamples N] [--ctx L] [--seed S] [--rho R] [--eval FILE] ...
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <filesystem>
#include <optional>

#ifdef QUIP_MPI
#include "dist/mpi_process_group.h"
#endif
#include "cli/commands.h"
#include "cli/finetune_run.h"
#include "cli/options.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/phase_profile.h"
#include "core/progress.h"
#include "core/resources.h"
#include "io/output_dir.h"
#include "io/quip_format.h"
#include "model/forward.h"
#include "pipeline/load.h"
#include "pipeline/calibration.h"
#include "pipeline/calibration_memory.h"
#include "pipeline/methods.h"
#include "pipeline/process_group.h"
#include "pipeline/quantize_model.h"
#include "format/rotation.h"
#include "text/perplexity.h"
#include "text/text_file.h"

namespace quip {

namespace {

struct Options {
  std::string model, calib, out, method = "quip", eval, incoherence, rounding, codebook, code, targets = "original";
  std::vector<std::string> bits_for;  // PATTERN=BITS
  int bits = 2, nsamples = 128, ctx = 256, threads = 0, eval_windows = 0, rg_passes = 4;
  uint64_t seed = 0;
  double rho = 0.0, rho2 = 0.0, damping = 0.01;
  bool finetune = false;
  FinetuneRun finetune_run;  // --finetune-*: calib, ctx and seed are quantize's
  bool block_tune = false;
  train::BlockTuneOptions block_tune_options{.steps = 256};  // --block-tune-*
  bool calib_bos = false, no_rescale = false, clip = false, range_tuning = false, force = false, verbose = false, mu_h = false,
       resume = false;
};

PerplexityResult Perplexity(const Model& model, const Tokenizer& tokenizer, const std::vector<int>& tokens,
                            const Options& o, const char* label) {
  Progress progress(fmt::format("ppl ({}) window", label));
  return EvaluatePerplexity(model, tokens, o.ctx, o.eval_windows, o.eval,
                            [&](int done, int total) { progress.Update(done, total); }, tokenizer.PrefixIds());
}

// quant_report.json travels with the folder to other machines: a relative path is kept
// as the user gave it (it reproduces the command from the same place), an absolute one
// is cut to its last name, since the rest only describes this machine.
std::string PathForReport(const std::string& path) {
  const std::filesystem::path p(path);
  if (p.is_relative()) return path;
  const std::filesystem::path normal = p.lexically_normal();
  return (normal.has_filename() ? normal : normal.parent_path()).filename().string();
}

std::vector<BitsOverride> ParseBitsOverrides(const std::vector<std::string>& specs) {
  std::vector<BitsOverride> out;
  for (const std::string& spec : specs) {
    const size_t eq = spec.rfind('=');
    QUIP_CHECK_INPUT(eq != std::string::npos && eq > 0 && eq + 2 == spec.size() && spec[eq + 1] >= '2' &&
                         spec[eq + 1] <= '4',
                     "--bits-for", "expected NAME=BITS with BITS 2, 3 or 4 (e.g. v_proj=3), got '{}'", spec);
    out.push_back({spec.substr(0, eq), spec[eq + 1] - '0'});
  }
  return out;
}

// Bytes of the tokenizer files copied into the output folder.
int64_t TokenizerBytes(const Model& model) {
  const std::filesystem::path source = model.source;
  const std::filesystem::path dir = std::filesystem::is_directory(source) ? source : source.parent_path();
  int64_t bytes = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
    if (entry.is_regular_file(ec) && entry.path().filename().string().rfind("tok", 0) == 0)
      bytes += int64_t(entry.file_size(ec));
  return bytes;
}

// Ranks of the MPI job that started this process (mpirun/mpiexec set these), 1 when none.
int LauncherRanks() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* v = std::getenv(var)) return std::max(1, std::atoi(v));
  return 1;
}

// `group`: the ranks of `mpirun -np N` (docs/scale-out.md); rank 0 alone checks and writes
// OUT_DIR, evaluates and prints.
void Run(const Options& o, ProcessGroup& group) {
  const bool lead = group.rank() == 0;
  if (!lead) ::setenv("QUIP_PROGRESS", "off", 1);
  SetThreads(o.threads);
  QuantConfig config = ConfigForMethod(o.method, o.bits);
  if (!o.incoherence.empty()) {
    config.incoherence = o.incoherence != "none";
    if (config.incoherence) config.rotation = ParseRotation(o.incoherence, "--incoherence");
  }
  if (!o.codebook.empty()) config.codebook = ParseCodebook(o.codebook, "--codebook");
  if (!o.code.empty()) {
    QUIP_CHECK_INPUT(config.codebook == Codebook::kTrellis, "--code", "only the trellis codebook (--method qtip) has a code");
    trellis::ParseCode(o.code, &config.trellis_code);  // checked by the option's validator
  }
  if (!o.rounding.empty()) config.rounding = ParseRounding(o.rounding);
  if (o.no_rescale) config.rescale = false;
  config.range_tuning = o.range_tuning;
  config.clip_before_rounding = o.clip;
  config.rho = o.rho;
  config.rho2 = o.rho2;
  config.damping = o.damping;
  config.seed = o.seed;
  config.rg_passes = o.rg_passes;
  // μ_H costs two eigendecompositions per matrix (about 18n³: half a 0.5B model's run);
  // without --mu-h the report's mu_h_before/after are null and mu_h_max_cols is 0.
  if (!o.mu_h) config.mu_h_max_dim = 0;
  if (lead) CheckOutputDir(o.out, {o.model, o.calib, o.eval}, o.force);  // before any work (io/output_dir.h)
  PhaseProfile profile;
  const ActiveProfile active_profile(&profile);
  std::optional<ScopedPhase> phase(std::in_place, "load", 0, ScopedPhase::Clock::kWall);

  Model model = RunStep("loading " + o.model, [&] { return LoadModel(o.model); });
  const auto tokenizer = LoadTokenizer(model);
  QUIP_CHECK_INPUT(o.ctx <= model.config.max_seq_len, o.model, "--ctx {} exceeds max_position_embeddings {}", o.ctx,
                   model.config.max_seq_len);
  QUIP_CHECK_INPUT(model.format != "quip", o.model, "is already quantized (quantize the original model instead)");
  QuantizeModelOptions options{config, o.method, ParseBitsOverrides(o.bits_for),
                               ParseCalibrationTargets(o.targets), &group};
  if (o.block_tune) options.block_tune = o.block_tune_options;
  CheckResources(EstimateQuantize(model.config, o.nsamples, o.ctx, options, WorkerThreads(), TokenizerBytes(model)),
                 o.model, o.out);  // fail early, with numbers
  phase.emplace("tokenize", 0, ScopedPhase::Clock::kWall);
  Progress tokenizing("tokenizing " + o.calib);
  // --calib-bos puts the tokenizer's BOS first (config.json's when the tokenizer adds none).
  const std::vector<int> prefix = tokenizer->PrefixIds();
  const CalibrationSample calib = SampleCalibrationWindowsFromText(ReadTextFile(o.calib), *tokenizer, o.nsamples, o.ctx,
                                                                   prefix.empty() ? model.config.bos_id : prefix.front(),
                                                                   o.seed, o.calib, o.calib_bos);
  const double calib_seconds = tokenizing.Seconds();
  tokenizing.Finish(fmt::format("{} windows of {} tokens from {:.2f} of {:.2f} MB", calib.windows.size(), o.ctx,
                                calib.tokenized_bytes / 1e6, calib.text_bytes / 1e6));
  const std::vector<std::vector<int>>& windows = calib.windows;
  std::vector<int> eval_tokens;
  PerplexityResult ppl_before;
  phase.reset();
  if (!o.eval.empty() && lead) {
    phase.emplace("eval_perplexity", 0, ScopedPhase::Clock::kWall);
    eval_tokens = RunStep("tokenizing " + o.eval, [&] { return tokenizer->Encode(ReadTextFile(o.eval)); });
    ppl_before = Perplexity(model, *tokenizer, eval_tokens, o, "fp32");
    phase.reset();
  }
  const LinearStorage before = MeasureLinearStorage(model);
  std::optional<BlockCheckpoints> checkpoints;  // --resume (pipeline/block_checkpoint.h)
  options.resume = o.resume;
  if (o.resume && lead) options.checkpoints = &checkpoints.emplace(o.out, CheckpointRun(model, windows, options));

  nlohmann::json report;
  {
    Progress progress("quantize layer");
    report = QuantizeModel(model, windows, options,
                           [&](int done, int total) { progress.Update(done, total); });
  }
  if (!lead) return;  // rank 0 writes the folder
  if (o.finetune) {
    const Model teacher =
        RunStep("loading " + o.model, [&] { return LoadModel(o.model, {.half_linears_on_use = true}); });
    FinetuneRun run = o.finetune_run;
    run.calib = o.calib;
    run.ctx = o.ctx;
    run.seed = o.seed;
    const train::FinetuneResult tuned = RunFinetune(model, teacher, *tokenizer, run);
    report["finetune"] = FinetuneReport(run, tuned, PathForReport(o.model));
    report["finetune"]["calib"] = PathForReport(o.calib);
  }
  report["model"] = PathForReport(o.model);
  report["calib"] = PathForReport(o.calib);
  int64_t source_weight_bytes = 0;  // as stored in the source (F32, F16, ...), for `quip info`'s before/after
  for (const TensorRecord& t : model.tensors) source_weight_bytes += t.bytes;
  report["source_weight_bytes"] = source_weight_bytes;
  report["calibration"]["text_bytes"] = calib.text_bytes;
  report["calibration"]["tokenized_bytes"] = calib.tokenized_bytes;
  report["calibration"]["sampling"] =
      calib.whole_text ? "token slots of the whole text" : "byte slots of the whole text";
  report["calibration"]["seed"] = o.seed;
  report["calibration"]["bos"] = o.calib_bos;
  report["seconds"]["tokenize_calibration"] = calib_seconds;
  if (!o.eval.empty()) {
    const ScopedPhase eval_phase("eval_perplexity", 0, ScopedPhase::Clock::kWall);
    const double ppl_after = Perplexity(model, *tokenizer, eval_tokens, o, "quantized").ppl;
    report["eval"] = {{"text", PathForReport(o.eval)}, {"ctx", o.ctx}, {"windows", ppl_before.windows},
                      {"tokens", ppl_before.tokens}, {"ppl_fp32", ppl_before.ppl}, {"ppl_quantized", ppl_after},
                      {"ratio", ppl_after / ppl_before.ppl}};
  }
  std::map<std::string, std::string> metadata{{"quip.method", o.method},
                                                    {"quip.bits", std::to_string(o.bits)},
                                                    {"quip.rho", fmt::format("{}", report["rho"].get<double>())},
                                                    {"quip.seed", std::to_string(o.seed)},
                                                    {"quip.tool_version", QUIP_VERSION}};
  if (o.finetune) {
    FinetuneRun run = o.finetune_run;
    run.ctx = o.ctx;
    run.seed = o.seed;
    metadata["quip.finetune"] = FinetuneMetadata(run);
  }
  const std::filesystem::path source = model.source;
  // The file cannot hold the time it takes to write itself: "write" is only printed.
  report["profile"] = profile.ToJson();
  phase.emplace("write", 0, ScopedPhase::Clock::kWall);
  Progress writing("writing " + o.out);
  WriteQuantizedModel(model, o.out, metadata, report,
                      (std::filesystem::is_directory(source) ? source : source.parent_path()).string(), o.force);
  writing.Finish();
  phase.reset();
  if (checkpoints) checkpoints->Remove();  // OUT_DIR holds every block now
  if (o.verbose) fmt::print("{}", profile.Table());

  const LinearStorage after = MeasureLinearStorage(model);
  fmt::print("quantized {} with {} at {} bits -> {}\n", o.model, o.method, o.bits, o.out);
  fmt::print("linear weights: {:.2f} MB fp32 -> {:.2f} MB ({:.3f} bits/weight), {:.1f} s, peak RSS {:.0f} MB\n",
             before.bytes / 1e6, after.bytes / 1e6, after.bits_per_weight(),
             report["seconds"]["total"].get<double>(), report["peak_rss_bytes"].get<double>() / 1e6);
  if (!o.eval.empty())
    fmt::print("perplexity on {}: fp32 {:.4f} -> quantized {:.4f} (ratio {:.4f})\n", o.eval, ppl_before.ppl,
               report["eval"]["ppl_quantized"].get<double>(), report["eval"]["ratio"].get<double>());
}

void Run(const Options& o) {
  const int ranks = LauncherRanks();
#ifdef QUIP_MPI
  if (ranks > 1) {
    const std::unique_ptr<ProcessGroup> group = MakeMpiProcessGroup();
    try {
      Run(o, *group);
    } catch (const std::exception& e) {
      AbortAllRanks(e.what());  // the others may wait in a collective: end them all
    }
    return;
  }
#else
  QUIP_CHECK_INPUT(ranks == 1, "mpirun", "this quip was built without MPI, so {} processes would each quantize "
                   "alone and race for the output folder; rebuild with cmake -DQUIP_MPI=ON", ranks);
#endif
  Run(o, SingleProcess());
}

}  // namespace

void RegisterQuantizeCommand(CLI::App& app) {
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("quantize", "Quantize a model's linear layers (QuIP and baselines)");
  cmd->add_option("--model", o->model, "Model folder or llama2.c .bin")->required();
  cmd->add_option("--calib", o->calib, "Calibration text (UTF-8)")->required();
  cmd->add_option("--bits", o->bits, "Bits per weight: 2, 3 or 4")->capture_default_str()->check(InRange(2, 4));
  cmd->add_option("--method", o->method, fmt::format("One of: {}", fmt::join(MethodNames(), ", ")))
      ->capture_default_str()
      ->check(AcceptedBy([](const std::string& m) { ConfigForMethod(m, 2); }, "METHOD"));
  cmd->add_option("-o,--out", o->out, "Output folder (written atomically)")->required();
  cmd->add_option("--nsamples", o->nsamples, "Calibration windows")->capture_default_str()->check(InRange(1, kNoLimit));
  cmd->add_option("--ctx", o->ctx, "Tokens per calibration window (and eval window)")
      ->capture_default_str()
      ->check(InRange(2, kNoLimit));
  cmd->add_flag("--calib-bos", o->calib_bos, "Start each calibration window with BOS");
  cmd->add_option("--seed", o->seed, "Seed for windows, rotations and stochastic rounding")
      ->capture_default_str()
      ->check(InRange(0, kNoLimit));
  // Grid scales beyond ~64 RMS units put every weight in the middle bins (the defaults are
  // 1.15-2.4); 1e30 overflowed into NaN activations before it was refused here.
  cmd->add_option("--rho", o->rho, "Grid range (scalar) or first-stage scale (e8p) in RMS units (0 = default)")
      ->check(InRange(0, 64));
  cmd->add_option("--rho2", o->rho2, "e8p at 3/4 bits: residual stage scale in RMS units (0 = default)")
      ->check(InRange(0, 64));
  cmd->add_option("--alpha", o->damping, "Hessian damping alpha")->capture_default_str()->check(InRange(0, 100));
  cmd->add_option("--incoherence", o->incoherence, "Override: kron, rht or none")
      ->check(AcceptedBy([](const std::string& s) { if (s != "none") ParseRotation(s, "--incoherence"); }, "KIND"));
  cmd->add_option("--bits-for", o->bits_for,
                  "Mixed precision: NAME=BITS for the linears whose name ends with NAME (v_proj=3, "
                  "layers.0.mlp.down_proj=4); repeatable")
      ->check(AcceptedBy([](const std::string& s) { ParseBitsOverrides({s}); }, "NAME=BITS"));
  cmd->add_option("--code", o->code, "qtip: the trellis code, one of " + trellis::CodeNames() + " (default 1mad)")
      ->check(AcceptedBy(
          [](const std::string& s) {
            trellis::Code c;
            QUIP_CHECK_INPUT(trellis::ParseCode(s, &c), "--code", "unknown code '{}' ({})", s, trellis::CodeNames());
          },
          "CODE"));
  cmd->add_option("--codebook", o->codebook,
                  "Override: scalar, e8p (QuIP#'s lattice, RVQ at 3/4 bits) or trellis (QTIP's)")
      ->check(AcceptedBy([](const std::string& s) { ParseCodebook(s, "--codebook"); }, "CODEBOOK"));
  cmd->add_option("--rounding", o->rounding, "Override: near, stoch, ldlq, optq, ldlq-rg")
      ->check(AcceptedBy([](const std::string& s) { ParseRounding(s); }, "ROUNDING"));
  cmd->add_flag("--no-rescale", o->no_rescale, "Skip the diagonal rescaling D-tilde");
  cmd->add_flag("--clip", o->clip, "Clip weights to the grid before rounding (Algorithm 1 step 6 as written)");
  cmd->add_flag("--range-tuning", o->range_tuning, "Search rho per matrix for the lowest proxy loss");
  cmd->add_option("--rg-passes", o->rg_passes, "Greedy passes of LDLQ-RG")->capture_default_str()->check(InRange(1, 100));
  cmd->add_option("--targets", o->targets,
                  "Calibration: original (fit each linear to the fp32 model's outputs, after the block's earlier "
                  "linears are quantized), sequential (the latter only), block (the paper: one fp32 run per block)")
      ->capture_default_str()
      ->check(AcceptedBy([](const std::string& s) { ParseCalibrationTargets(s); }, "TARGETS"));
  cmd->add_option("--eval", o->eval, "Also report fp32 vs quantized perplexity on this text");
  cmd->add_option("--eval-windows", o->eval_windows, "Windows of --eval to score (0 = all)")->check(InRange(0, kNoLimit));
  cmd->add_option("--threads", o->threads, "Worker threads (0 = all cores; capped at the hardware threads)")
      ->check(InRange(0, kNoLimit));
  cmd->add_flag("--mu-h", o->mu_h,
                 "Report each matrix's Hessian incoherence mu_H (two eigendecompositions per matrix, up to 2048 columns)");
  cmd->add_flag("--verbose", o->verbose, "Print seconds and GFLOP/s per phase (also in quant_report.json)");
  cmd->add_flag("--finetune", o->finetune,
                "Then tune the continuous parameters (codes frozen) to the original model on --calib "
                "(docs/finetune.md; options --finetune-*)");
  AddFinetuneOptions(*cmd, o->finetune_run, "--finetune-", /*with_framing=*/false);
  cmd->add_flag("--block-tune", o->block_tune,
                "After each block's linears are rounded, tune its continuous parameters to the fp32 block's output "
                "(MSE) before the next block is calibrated (QuIP#'s first fine-tuning stage; docs/finetune.md)");
  cmd->add_option("--block-tune-steps", o->block_tune_options.steps, "Adam steps per block, one calibration window each")
      ->capture_default_str()
      ->check(InRange(1, kNoLimit));
  cmd->add_option("--block-tune-lr", o->block_tune_options.lr, "Per-block learning rate (relative change per step)")
      ->capture_default_str()
      ->check(InRange(0, 1, /*lo_open=*/true));
  cmd->add_option_function<std::string>(
         "--block-tune-target",
         [o](const std::string& t) { o->block_tune_options.original_stream = t == "original"; },
         "What each block is tuned to reproduce: block (the fp32 block on the quantized stream, QuIP#'s) or "
         "original (the fp32 model's stream after the block; needs --targets original)")
      ->default_str("block")
      ->check(CLI::IsMember({"block", "original"}));
  cmd->add_option("--block-tune-valid-windows", o->block_tune_options.valid_windows,
                  "Calibration windows held out to pick each block's best step (at most a quarter)")
      ->capture_default_str()
      ->check(InRange(1, kNoLimit));
  cmd->add_flag("--force", o->force, "Replace an existing output folder that quip wrote");
  cmd->add_flag("--resume", o->resume,
                "Keep each finished block in OUT_DIR.checkpoint and continue from the blocks there: rerun the same "
                "command after an interruption (the folder is removed once OUT_DIR is written)");
  cmd->callback([o] { Run(*o); });
}

}  // namespace quip
