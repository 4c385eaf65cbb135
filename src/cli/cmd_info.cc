// quip info --model DIR: architecture, parameter count, tensor table, bytes.
#include <fmt/core.h>
#include <fmt/ranges.h>

#include "cli/commands.h"
#include "model/load.h"

namespace quip {

void RegisterInfoCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Print a model's architecture, parameters and tensors");
  auto model_path = std::make_shared<std::string>();
  cmd->add_option("--model", *model_path, "Model folder (Hugging Face or quip) or llama2.c .bin")->required();
  cmd->callback([model_path] {
    const Model model = LoadModel(*model_path);
    const LlamaConfig& c = model.config;
    fmt::print("model        {}\nformat       {}\n", model.source, model.format);
    fmt::print("architecture Llama: {} layers, hidden {}, intermediate {}, heads {} (kv {}), head_dim {}\n", c.n_layers,
               c.dim, c.hidden_dim, c.n_heads, c.n_kv_heads, c.head_dim);
    fmt::print("vocab        {}, max positions {}, rope theta {}, rms eps {}, {} embeddings\n", c.vocab_size,
               c.max_seq_len, c.rope_theta, c.norm_eps, c.tied_embeddings ? "tied" : "untied");
    fmt::print("parameters   {}\n", c.ParameterCount());
    fmt::print("linear format {}\n", model.layers.empty() ? "-" : model.layers[0].q->Format());
    int64_t total = 0;
    fmt::print("\n{:<48} {:>6} {:>18} {:>12}\n", "tensor", "dtype", "shape", "bytes");
    for (const auto& t : model.tensors) {
      fmt::print("{:<48} {:>6} {:>18} {:>12}\n", t.name, t.dtype, fmt::format("[{}]", fmt::join(t.shape, ", ")), t.bytes);
      total += t.bytes;
    }
    fmt::print("{:<48} {:>6} {:>18} {:>12}\n", "total", "", "", total);
  });
}

}  // namespace quip
