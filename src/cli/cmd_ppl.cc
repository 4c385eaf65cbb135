// quip ppl --model DIR --text FILE [--ctx N] [--max-windows K] [--reference FP_DIR] [--json]
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <optional>

#include "cli/commands.h"
#include "cli/inference_check.h"
#include "cli/options.h"
#include "core/progress.h"
#include "model/forward.h"
#include "pipeline/load.h"
#include "text/perplexity.h"
#include "text/text_file.h"

namespace quip {

void RegisterPplCommand(CLI::App& app) {
  struct Options {
    std::string model, text, reference;
    int ctx = 256, max_windows = 0, threads = 0;
    bool json = false;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("ppl", "Perplexity of a model on a text file (protocol: docs/perplexity.md)");
  cmd->add_option("--model", opt->model, "Model folder or llama2.c .bin")->required();
  cmd->add_option("--text", opt->text, "UTF-8 text file")->required();
  cmd->add_option("--ctx", opt->ctx, "Window length including BOS")->capture_default_str()->check(InRange(2, kNoLimit));
  cmd->add_option("--max-windows", opt->max_windows, "Evaluate at most K windows (0 = all)")->check(InRange(0, kNoLimit));
  cmd->add_option("--threads", opt->threads, "Worker threads (0 = all cores; capped at the hardware threads)")
      ->check(InRange(0, kNoLimit));
  cmd->add_option("--reference", opt->reference,
                  "Also run this model (e.g. the fp32 one the model was quantized from) on the same windows and "
                  "report the mean KL divergence from it, its largest term and the top-1 agreement");
  cmd->add_flag("--json", opt->json, "Print one JSON object on stdout");
  cmd->callback([opt] {
    SetThreads(opt->threads);
    const Model model = RunStep("loading " + opt->model, [&] { return LoadModel(opt->model); });
    CheckInferenceResources(model, opt->ctx, opt->ctx);  // a window's logits are kept whole
    std::optional<Model> reference;
    if (!opt->reference.empty()) {
      reference = RunStep("loading " + opt->reference, [&] { return LoadModel(opt->reference); });
      CheckInferenceResources(*reference, opt->ctx, opt->ctx);
    }
    const auto tokenizer = LoadTokenizer(model);
    // The reported seconds cover tokenizing and scoring the text: what a user waits for.
    const auto start = std::chrono::steady_clock::now();
    const std::vector<int> tokens =
        RunStep("tokenizing " + opt->text, [&] { return tokenizer->Encode(ReadTextFile(opt->text)); });
    PerplexityResult r;
    {
      Progress progress("ppl window");
      r = EvaluatePerplexity(model, tokens, opt->ctx, opt->max_windows, opt->text,
                             [&progress](int done, int total) { progress.Update(done, total); },
                             tokenizer->PrefixIds(), reference ? &*reference : nullptr);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (opt->json) {
      nlohmann::ordered_json j{{"ppl", r.ppl},         {"nll", r.nll},       {"tokens", r.tokens},
                               {"windows", r.windows}, {"ctx", opt->ctx},    {"seconds", r.seconds},
                               {"model", opt->model},  {"text", opt->text},  {"text_tokens", tokens.size()}};
      if (reference) {
        j["reference"] = opt->reference;
        j["reference_ppl"] = std::exp(r.reference_nll / double(r.tokens));
        j["kl_divergence"] = r.kl / double(r.tokens);  // mean over the scored tokens, nats
        j["kl_divergence_max"] = r.kl_max;
        j["same_top1"] = double(r.same_top1) / double(r.tokens);
      }
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print("ppl {:.4f} over {} tokens in {} windows of {} ({:.1f} s)\n", r.ppl, r.tokens, r.windows, opt->ctx,
                 r.seconds);
      if (reference)
        fmt::print("reference ppl {:.4f}, KL from it {:.6f} nats per token (largest {:.4f}), same top token {:.2f} %\n",
                   std::exp(r.reference_nll / double(r.tokens)), r.kl / double(r.tokens), r.kl_max,
                   100.0 * double(r.same_top1) / double(r.tokens));
    }
  });
}

}  // namespace quip
