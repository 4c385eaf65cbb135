#include "cli/finetune_run.h"

#include <fmt/core.h>

#include <algorithm>
#include <optional>

#include "cli/options.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/progress.h"
#include "pipeline/calibration.h"
#include "text/text_file.h"
#include "train/gradient_dump.h"
#include "train/teacher_targets.h"

namespace quip {

void AddFinetuneOptions(CLI::App& cmd, FinetuneRun& run, const std::string& prefix, bool with_framing) {
  cmd.add_option(prefix + "steps", run.steps, "Fine-tuning: optimizer steps (one window each)")
      ->capture_default_str()
      ->check(InRange(1, kNoLimit));
  cmd.add_option(prefix + "lr", run.lr, "Fine-tuning: peak learning rate (relative change per step)")
      ->capture_default_str()
      ->check(InRange(0, 1, /*lo_open=*/true));
  cmd.add_option(prefix + "windows", run.windows, "Fine-tuning: training windows")
      ->capture_default_str()
      ->check(InRange(1, kNoLimit));
  cmd.add_option(prefix + "valid-windows", run.valid_windows,
                 "Fine-tuning: held-out windows (the parameters written are the best on them)")
      ->capture_default_str()
      ->check(InRange(1, kNoLimit));
  cmd.add_option(prefix + "eval-every", run.eval_every, "Fine-tuning: steps between held-out measurements")
      ->capture_default_str()
      ->check(InRange(1, kNoLimit));
  cmd.add_flag(prefix + "freeze-code-table", run.freeze_code_table,
               "Fine-tuning: keep QTIP's HYB table as stored (by default it is tuned with the other parameters)");
  cmd.add_option(prefix + "teacher-top-k", run.teacher_top_k,
                 "Fine-tuning: keep the teacher's top K tokens per position (and the rest's mass), computed ahead, "
                 "and free the teacher before tuning (0: full distributions, the teacher run per window)")
      ->capture_default_str()
      ->check(InRange(0, kNoLimit));
  if (!with_framing) return;
  cmd.add_option(prefix + "ctx", run.ctx, "Tokens per window including BOS")
      ->capture_default_str()
      ->check(InRange(2, kNoLimit));
  cmd.add_option(prefix + "seed", run.seed, "Seed for the windows")->capture_default_str()->check(InRange(0, kNoLimit));
}

namespace {

// The training windows and, last, the held-out ones.
CalibrationSample FinetuneWindows(const Model& student, const Tokenizer& tokenizer, const FinetuneRun& o) {
  Progress tokenizing("tokenizing " + o.calib);
  CalibrationSample sample =
      SampleCalibrationWindowsFromText(ReadTextFile(o.calib), tokenizer, o.windows + o.valid_windows, o.ctx,
                                       student.config.bos_id, o.seed, o.calib, /*with_bos=*/true);
  tokenizing.Finish();
  return sample;
}

}  // namespace

void DumpFinetuneGradient(const Model& student, const Model& teacher, const Tokenizer& tokenizer,
                          const FinetuneRun& o, const std::string& path) {
  const std::vector<int> window = FinetuneWindows(student, tokenizer, o).windows.front();
  train::WriteGradientDump(student, window, train::TeacherLogProbs(teacher, window), path);
}

train::FinetuneResult RunFinetune(Model& student, const Model& teacher, const Tokenizer& tokenizer,
                                  const FinetuneRun& o, const std::function<void()>& release_teacher) {
  CalibrationSample sample = FinetuneWindows(student, tokenizer, o);
  const std::vector<std::vector<int>> valid(sample.windows.end() - o.valid_windows, sample.windows.end());
  sample.windows.resize(o.windows);

  train::FinetuneOptions options;
  options.steps = o.steps;
  options.lr = o.lr;
  options.eval_every = o.eval_every;
  options.checkpoint = o.checkpoint;
  options.tune_code_table = !o.freeze_code_table;
  options.teacher_top_k = o.teacher_top_k;
  std::vector<train::TopKTarget> train_targets, valid_targets;
  if (o.teacher_top_k > 0) {
    train::CheckSameArchitecture(student, teacher);
    QUIP_CHECK_INPUT(o.teacher_top_k <= teacher.config.vocab_size, "--teacher-top-k",
                     "{} exceeds the vocabulary of {}", o.teacher_top_k, teacher.config.vocab_size);
    Progress targets("teacher targets (top " + std::to_string(o.teacher_top_k) + ")");
    train_targets = train::TeacherTopK(teacher, sample.windows, o.teacher_top_k);
    valid_targets = train::TeacherTopK(teacher, valid, o.teacher_top_k);
    int64_t bytes = 0;
    for (const auto* set : {&train_targets, &valid_targets})
      for (const train::TopKTarget& t : *set) bytes += t.bytes();
    targets.Finish(fmt::format("{:.1f} MB", double(bytes) / 1e6));
    if (release_teacher) release_teacher();
  }
  // One progress step per stretch between held-out measurements: its final line carries the
  // mean training loss of the stretch and the held-out KL.
  std::optional<Progress> stretch;
  int first = 1, last = 1;
  double loss_sum = 0;
  auto open = [&](int from) {  // the held-out KL is measured at multiples of eval_every and the last step
    first = from;
    last = std::min(o.steps, (from + o.eval_every - 1) / o.eval_every * o.eval_every);
    loss_sum = 0;
    stretch.emplace(fmt::format("finetune steps {}-{}", first, last));
  };
  open(1);
  const train::FinetuneProgress progress = [&](int step, int total, double loss, double kl) {
    if (step < first || step > last) open(step);  // resumed from a checkpoint
    loss_sum += loss;
    stretch->Update(step - first + 1, last - first + 1);
    if (kl < 0) return;
    stretch->Finish(fmt::format("mean loss {:.5f}, held-out KL {:.5f}", loss_sum / (step - first + 1), kl));
    if (step < total) open(step + 1);
  };
  if (o.teacher_top_k > 0)
    return train::Finetune(student, train_targets, valid_targets, sample.windows, valid, options, progress);
  return train::Finetune(student, teacher, sample.windows, valid, options, progress);
}

nlohmann::json FinetuneReport(const FinetuneRun& o, const train::FinetuneResult& r, const std::string& teacher) {
  return {{"teacher", teacher},
          {"calib", o.calib},
          {"windows", o.windows},
          {"valid_windows", o.valid_windows},
          {"ctx", o.ctx},
          {"steps", o.steps},
          {"lr", o.lr},
          {"eval_every", o.eval_every},
          {"seed", o.seed},
          {"freeze_code_table", o.freeze_code_table},
          {"teacher_top_k", o.teacher_top_k},
          {"threads", WorkerThreads()},
          {"valid_kl_before", r.valid_kl_before},
          {"valid_kl_after", r.valid_kl_after},
          {"best_step", r.best_step},
          {"resumed_from", r.resumed_from},
          {"seconds", r.seconds}};
}

std::string FinetuneMetadata(const FinetuneRun& o) {
  // Options off by default are named only when given (the default runs' metadata unchanged).
  return fmt::format("steps={} lr={} windows={} ctx={} seed={}{}{}", o.steps, o.lr, o.windows, o.ctx, o.seed,
                     o.teacher_top_k > 0 ? fmt::format(" teacher_top_k={}", o.teacher_top_k) : "",
                     o.freeze_code_table ? " freeze_code_table=1" : "");
}

}  // namespace quip
