// quip generate --model DIR [--prompt TEXT] [-n N] [--temp T] [--top-p P] [--seed S]
// Streams the continuation to stdout as it is produced.
#include <fmt/core.h>

#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/inference_check.h"
#include "cli/options.h"
#include "core/error.h"
#include "model/forward.h"
#include "pipeline/load.h"
#include "model/sampler.h"

namespace quip {

void RegisterGenerateCommand(CLI::App& app) {
  struct Options {
    std::string model, prompt;
    int n = 128, threads = 0;
    float temperature = 0.8f, top_p = 0.9f;
    uint64_t seed = 42;
    bool stats = false;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("generate", "Generate text from a prompt");
  cmd->add_option("--model", opt->model, "Model folder or llama2.c .bin")->required();
  cmd->add_option("--prompt", opt->prompt, "Prompt text (empty: start from BOS)");
  cmd->add_option("-n,--tokens", opt->n, "Tokens to generate")->capture_default_str()->check(InRange(0, kNoLimit));
  cmd->add_option("--temp", opt->temperature, "Temperature (0 = greedy)")->capture_default_str()->check(InRange(0, 100));
  cmd->add_option("--top-p", opt->top_p, "Nucleus sampling mass")->capture_default_str()->check(InRange(0, 1, true));
  cmd->add_option("--seed", opt->seed, "Sampling seed")->capture_default_str()->check(InRange(0, kNoLimit));
  cmd->add_option("--threads", opt->threads, "Worker threads (0 = all cores; capped at the hardware threads)")
      ->check(InRange(0, kNoLimit));
  cmd->add_flag("--stats", opt->stats, "Print tokens/s on stderr at the end");
  cmd->callback([opt] {
    SetThreads(opt->threads);
    const Model model = LoadModel(opt->model);
    const auto tokenizer = LoadTokenizer(model);
    const LlamaConfig& c = model.config;
    // The tokenizer's own prefix (BOS for Llama and Gemma, none for Qwen); BOS when nothing
    // else would give the model a first token.
    std::vector<int> prompt = tokenizer->PrefixIds();
    for (int id : tokenizer->Encode(opt->prompt)) prompt.push_back(id);
    if (prompt.empty()) prompt.push_back(c.bos_id);
    const int capacity = std::min<int64_t>(c.max_seq_len, int64_t(prompt.size()) + opt->n);
    QUIP_CHECK_INPUT(int(prompt.size()) <= capacity, opt->model, "prompt of {} tokens exceeds max_position_embeddings {}",
                     prompt.size(), c.max_seq_len);
    CheckInferenceResources(model, capacity, 1);
    Session session(model, capacity);
    Sampler sampler(opt->temperature, opt->top_p, opt->seed);

    fmt::print("{}", opt->prompt);
    std::fflush(stdout);
    const auto start = std::chrono::steady_clock::now();
    std::span<const float> logits = session.Feed(prompt, /*all_logits=*/false);
    const auto prompt_done = std::chrono::steady_clock::now();
    int prev = prompt.back(), generated = 0;
    while (generated < opt->n) {
      const int next = sampler.Sample(logits);
      if (next == c.eos_id || (next == c.bos_id && generated > 0)) break;
      fmt::print("{}", tokenizer->Piece(prev, next, c.bos_id));
      std::fflush(stdout);
      ++generated;
      prev = next;
      if (session.position() >= capacity) break;
      const int token[] = {next};
      logits = session.Feed(token, false);
    }
    fmt::print("\n");
    if (generated < opt->n && session.position() >= capacity && capacity == c.max_seq_len)
      fmt::print(stderr, "quip: note: stopped after {} of {} tokens: the context is full (max_position_embeddings {})\n",
                 generated, opt->n, c.max_seq_len);
    if (opt->stats) {
      const auto end = std::chrono::steady_clock::now();
      const double prompt_s = std::chrono::duration<double>(prompt_done - start).count();
      const double gen_s = std::chrono::duration<double>(end - prompt_done).count();
      fmt::print(stderr, "prompt {} tokens in {:.3f} s; generated {} tokens at {:.1f} tokens/s\n", prompt.size(),
                 prompt_s, generated, generated / std::max(gen_s, 1e-9));
    }
  });
}

}  // namespace quip
