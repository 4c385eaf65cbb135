// quip bench --model DIR [--prompt N] [--gen N] [--threads T] [--seed S] [--bandwidth] [--json]
// Prompt-evaluation and decoding speed of any model folder (fp or quantized) on this
// machine, so users can compare formats; --bandwidth also measures the memory
// bandwidth and reports decoding against its roofline.
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/inference_check.h"
#include "cli/options.h"
#include "core/memory_bandwidth.h"
#include "core/resources.h"
#include "core/thread_pool.h"
#include "kernels/quant_matmul.h"
#include "model/forward.h"
#include "model/load.h"
#include "model/quantized_linear.h"
#include "model/speed.h"

namespace quip {

void RegisterBenchCommand(CLI::App& app) {
  struct Options {
    std::string model;
    int prompt = 128, gen = 64, threads = 0;
    uint64_t seed = 1;
    bool json = false, bandwidth = false;
  };
  auto opt = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("bench", "Prompt and decode tokens/s of a model (random prompt tokens)");
  cmd->add_option("--model", opt->model, "Model folder or llama2.c .bin")->required();
  cmd->add_option("--prompt", opt->prompt, "Prompt tokens, fed at once")->capture_default_str()->check(InRange(1, kNoLimit));
  cmd->add_option("--gen", opt->gen, "Tokens decoded one at a time")->capture_default_str()->check(InRange(1, kNoLimit));
  cmd->add_option("--threads", opt->threads, "Worker threads (0 = all cores; capped at the hardware threads)")
      ->check(InRange(0, kNoLimit));
  cmd->add_option("--seed", opt->seed, "Seed of the random prompt")->capture_default_str()->check(InRange(0, kNoLimit));
  cmd->add_flag("--bandwidth", opt->bandwidth, "Also measure memory bandwidth (1 GiB buffers) and the roofline");
  cmd->add_flag("--json", opt->json, "Print one JSON object on stdout");
  cmd->callback([opt] {
    SetThreads(opt->threads);
    const Model model = LoadModel(opt->model);
    CheckInferenceResources(model, int64_t(opt->prompt) + opt->gen, 1);
    const SpeedResult r = MeasureSpeed(model, opt->prompt, opt->gen, opt->seed);
    MemoryBandwidth bw;
    if (opt->bandwidth) bw = MeasureMemoryBandwidth(int64_t(1) << 30, 3);
    const double roofline_tps = bw.read_gbps > 0 ? bw.read_gbps * 1e9 / double(r.weight_bytes_per_token) : 0;
    const double kernel_share = r.rotation_share + r.quant_matmul_share;
    if (opt->json) {
      nlohmann::ordered_json j{{"model", opt->model},
                               {"format", r.linear_format},
                               {"threads", ThreadPool::Global().threads()},
                               {"simd_target", kernels::KernelTarget()},
                               {"kernel", QuantizedLinear::Kernel() == QuantKernel::kFast ? "fast" : "ref"},
                               {"prompt_tokens", r.prompt_tokens},
                               {"gen_tokens", r.gen_tokens},
                               {"prompt_tps", r.prompt_tps},
                               {"decode_tps", r.decode_tps},
                               {"weight_bytes_per_token", r.weight_bytes_per_token},
                               {"decode_weight_gbps", r.decode_gbps},
                               {"decode_cpu_seconds", r.decode_cpu_seconds},
                               {"rotation_share", r.rotation_share},
                               {"quant_matmul_share", r.quant_matmul_share},
                               {"peak_rss_bytes", PeakRssBytes()}};
      if (opt->bandwidth) {
        j["read_gbps"] = bw.read_gbps;
        j["triad_gbps"] = bw.triad_gbps;
        j["roofline_decode_tps"] = roofline_tps;
        j["roofline_fraction"] = r.decode_tps / roofline_tps;
      }
      fmt::print("{}\n", j.dump());
    } else {
      fmt::print("model {} ({}), {} threads, SIMD {}\n", opt->model, r.linear_format, ThreadPool::Global().threads(),
                 kernels::KernelTarget());
      fmt::print("prompt  {:.1f} tokens/s ({} tokens in {:.3f} s)\n", r.prompt_tps, r.prompt_tokens, r.prompt_seconds);
      fmt::print("decode  {:.2f} tokens/s ({} tokens in {:.3f} s)\n", r.decode_tps, r.gen_tokens, r.decode_seconds);
      fmt::print("weights {:.2f} MB per decoded token, {:.2f} GB/s\n", r.weight_bytes_per_token * 1e-6, r.decode_gbps);
      if (kernel_share > 0)
        fmt::print("decode time in quantized linears: {:.0f}% rotations, {:.0f}% packed matvec\n",
                   100 * r.rotation_share, 100 * r.quant_matmul_share);
      if (opt->bandwidth)
        fmt::print("memory  read {:.1f} GB/s, triad {:.1f} GB/s; decode at {:.0f}% of the read roofline ({:.1f} tokens/s)\n",
                   bw.read_gbps, bw.triad_gbps, 100 * r.decode_tps / roofline_tps, roofline_tps);
      fmt::print("peak RSS {:.1f} MB\n", PeakRssBytes() * 1e-6);
    }
  });
}

}  // namespace quip
