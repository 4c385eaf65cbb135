// The fine-tuning step shared by `quip finetune` and `quip quantize --finetune`: windows from
// the calibration text, train::Finetune with progress lines, and what the folder records.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <string>

#include "model/model.h"
#include "text/tokenizer.h"
#include "train/finetune.h"

namespace quip {

struct FinetuneRun {
  std::string calib, checkpoint;
  // Measured on books-llama-5m QuIP# 2-bit (docs/finetune.md): 512 windows seen once each;
  // lr 3e-3 gave ppl ratio 1.0441, 1e-3 1.0462, 64 windows seen ~5 times 1.052.
  int steps = 512, windows = 512, valid_windows = 4, ctx = 256, eval_every = 64;
  double lr = 3e-3;
  uint64_t seed = 0;
  bool freeze_code_table = false;  // QTIP's HYB table stays as stored
  // > 0: the teacher's targets are computed ahead as the top this-many tokens per position
  // and the teacher released before tuning (docs/finetune.md, Memory); 0: full distributions,
  // the teacher run per window.
  int teacher_top_k = 0;
};

// --steps, --lr, --windows, --valid-windows, --eval-every, --freeze-code-table, --teacher-top-k,
// --ctx, --seed with `prefix`
// ("--" or "--finetune-"; quantize shares its --ctx and --seed, so `with_framing` false skips them).
void AddFinetuneOptions(CLI::App& cmd, FinetuneRun& run, const std::string& prefix, bool with_framing = true);

// Tunes `student` in place towards `teacher` on windows of run.calib (BOS first, as perplexity
// frames them; the last valid_windows held out). With run.teacher_top_k, `release_teacher` is
// called once the targets are computed (the teacher is not used after it).
train::FinetuneResult RunFinetune(Model& student, const Model& teacher, const Tokenizer& tokenizer,
                                  const FinetuneRun& run, const std::function<void()>& release_teacher = {});

// Writes train/gradient_dump.h's file for the first training window of `run` (in double)
// instead of tuning: the input of tools/finetune_grad_reference.py.
void DumpFinetuneGradient(const Model& student, const Model& teacher, const Tokenizer& tokenizer,
                          const FinetuneRun& run, const std::string& path);

// quant_report.json's "finetune" section and the "quip.finetune" metadata value.
nlohmann::json FinetuneReport(const FinetuneRun& run, const train::FinetuneResult& r, const std::string& teacher);
std::string FinetuneMetadata(const FinetuneRun& run);

}  // namespace quip
