// quip bench --model DIR [--prompt N] [--gen N] [--repeat N] [--threads T] [--seed S] [--bandwidth] [--json]
// Prompt-evaluation and decoding speed of any model folder (fp or quantized) on this
// machine, so users can compare formats; --bandwidth also measures the memory
// bandwidth and reports decoding against its roofline. The measurement is repeated and
// the median reported with min and max: one run on a shared machine can be off by 2x.
#include <fmt/core.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <vector>

#include "cli/commands.h"
#include "cli/inference_check.h"
#include "cli/options.h"
#include "core/memory_bandwidth.h"
#include "core/progress.h"
#include "core/resources.h"
#include "core/thread_pool.h"
#include "kernels/e8p_matvec.h"
#include "kernels/quant_matmul.h"
#include "model/forward.h"
#include "pipeline/load.h"
#include "model/incoherent_linear.h"
#include "model/speed.h"

namespace quip {

void RegisterBenchCommand(CLI::App& app) {
  struct Options {
    std::string model;
    int prompt = 128, gen = 64, threads = 0, repeat = 3;
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
  cmd->add_option("--repeat", opt->repeat, "Measurements; the median is reported with min and max")
      ->check(InRange(1, 1000))
      ->capture_default_str();
  cmd->add_flag("--bandwidth", opt->bandwidth, "Also measure memory bandwidth (1 GiB buffers) and the roofline");
  cmd->add_flag("--json", opt->json, "Print one JSON object on stdout");
  cmd->callback([opt] {
    SetThreads(opt->threads);
    const Model model = LoadModel(opt->model);
    CheckInferenceResources(model, int64_t(opt->prompt) + opt->gen, 1);
    std::vector<SpeedResult> runs;
    {
      Progress progress("bench run");
      for (int i = 0; i < opt->repeat; ++i) {
        runs.push_back(MeasureSpeed(model, opt->prompt, opt->gen, opt->seed));
        progress.Update(i + 1, opt->repeat);
      }
    }
    // The run with the median decode speed stands for all (its shares and CPU time);
    // prompt speed gets its own median.
    auto by = [](auto field) {
      return [field](const SpeedResult& a, const SpeedResult& b) { return a.*field < b.*field; };
    };
    std::sort(runs.begin(), runs.end(), by(&SpeedResult::prompt_tps));
    const double prompt_median = runs[runs.size() / 2].prompt_tps;
    const double prompt_min = runs.front().prompt_tps, prompt_max = runs.back().prompt_tps;
    std::sort(runs.begin(), runs.end(), by(&SpeedResult::decode_tps));
    SpeedResult r = runs[runs.size() / 2];
    const double decode_min = runs.front().decode_tps, decode_max = runs.back().decode_tps;
    r.prompt_tps = prompt_median;
    r.prompt_seconds = r.prompt_tokens / prompt_median;
    MemoryBandwidth bw;
    if (opt->bandwidth) bw = MeasureMemoryBandwidth(int64_t(1) << 30, 3);
    const double roofline_tps = bw.read_gbps > 0 ? bw.read_gbps * 1e9 / double(r.weight_bytes_per_token) : 0;
    const double kernel_share = r.rotation_share + r.quant_matmul_share;
    if (opt->json) {
      nlohmann::ordered_json j{{"model", opt->model},
                               {"format", r.linear_format},
                               {"threads", ThreadPool::Global().threads()},
                               {"simd_target", kernels::KernelTarget()},
                               {"kernel", QuantKernelName(IncoherentLinear::Kernel())},  // every codebook follows it
                               {"e8p_kernel", kernels::E8PImplName()},  // which fast E8P kernel this CPU runs
                               {"prompt_tokens", r.prompt_tokens},
                               {"gen_tokens", r.gen_tokens},
                               {"prompt_tps", r.prompt_tps},
                               {"decode_tps", r.decode_tps},
                               {"repeat", opt->repeat},
                               {"prompt_tps_min", prompt_min},
                               {"prompt_tps_max", prompt_max},
                               {"decode_tps_min", decode_min},
                               {"decode_tps_max", decode_max},
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
      fmt::print("model {} ({}), {} threads, SIMD {}, E8P kernel {}\n", opt->model, r.linear_format,
                 ThreadPool::Global().threads(), kernels::KernelTarget(), kernels::E8PImplName());
      const std::string spread = opt->repeat > 1 ? fmt::format("median of {} runs, ", opt->repeat) : "";
      fmt::print("prompt  {:.1f} tokens/s ({}min {:.1f}, max {:.1f}; {} tokens per run)\n", r.prompt_tps, spread,
                 prompt_min, prompt_max, r.prompt_tokens);
      fmt::print("decode  {:.2f} tokens/s ({}min {:.2f}, max {:.2f}; {} tokens per run)\n", r.decode_tps, spread,
                 decode_min, decode_max, r.gen_tokens);
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
