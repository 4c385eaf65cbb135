// Quantized-inference kernels against the memory roofline (issue 5).
//
// One run measures, on this machine and with the same thread count:
//   1. memory bandwidth: read sweep and STREAM triad over buffers far beyond the LLC;
//   2. a synthetic Llama-shaped model (hidden 2048, intermediate 5632, 8 layers, 32/4
//      heads, random weights; vocab 512 so the fp32 head does not hide the layers) in
//      fp32 and quantized to 4/3/2 bits with near rounding + incoherence: prompt and
//      decode tokens/s, weight bytes per token, achieved GB/s, % of the read roofline,
//      and the share of decode time in the Kronecker rotations;
//   3. books-llama-5m (cache-resident, so compute efficiency: GFLOP/s) the same way.
// Prints one JSON object (also written to --out) and a Markdown table (--markdown).
//
// Usage: kernel_bench [--threads T] [--prompt N] [--gen N] [--out FILE] [--markdown FILE]
//                     [--bandwidth-mib M] [--no-books] [--no-synthetic] [--repeats R (3)]
//                     [--only S1,S2,...]  (formats whose label, e.g. "2-bit rht trellis xor7",
//                                          contains one of these; fp32 always runs)
#include <fmt/core.h>
#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "bench/synthetic_model.h"
#include "core/memory_bandwidth.h"
#include "core/resources.h"
#include "core/thread_pool.h"
#include "kernels/e8p_matvec.h"
#include "kernels/quant_matmul.h"
#include "model/forward.h"
#include "model/incoherent_linear.h"
#include "pipeline/load.h"
#include "model/speed.h"
#include "quant/quantize.h"
#include "format/rotation.h"
#include "core/blas_kernels.h"

namespace {
using nlohmann::ordered_json;

double Seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string CpuName() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string SharedDir() {
  const char* env = std::getenv("QUIP_SHARED");
  return env && *env ? std::string(env) : std::string(QUIP_SHARED_DIR);
}

// 2 flops per weight of every linear (the matmul work of one token).
double LinearFlopsPerToken(const quip::Model& m) {
  const quip::LlamaConfig& c = m.config;
  const double per_layer = double(c.dim) * (2.0 * c.q_dim() + 2.0 * c.kv_dim()) + 3.0 * c.dim * c.hidden_dim;
  return 2.0 * (per_layer * c.n_layers + double(c.dim) * c.vocab_size);
}

ordered_json Row(const std::string& name, int bits, const quip::Model& m, const quip::SpeedResult& r,
                 double read_gbps, double setup_seconds) {
  const double roofline_tps = read_gbps * 1e9 / double(r.weight_bytes_per_token);
  ordered_json j{{"name", name},
                 {"format", r.linear_format},
                 {"bits", bits},
                 {"kernel", quip::QuantKernelName(quip::IncoherentLinear::Kernel())},  // every codebook follows it
                 {"prompt_tps", r.prompt_tps},
                 {"prompt_tokens_per_cpu_second", r.prompt_tokens / r.prompt_cpu_seconds},
                 {"prompt_rotation_share", r.prompt_rotation_share},
                 {"prompt_quant_matmul_share", r.prompt_quant_matmul_share},
                 {"decode_tps", r.decode_tps},
                 {"decode_ms_per_token", 1e3 / r.decode_tps},
                 {"weight_bytes_per_token", r.weight_bytes_per_token},
                 {"decode_weight_gbps", r.decode_gbps},
                 {"roofline_decode_tps", roofline_tps},
                 {"roofline_fraction", r.decode_tps / roofline_tps},
                 {"decode_cpu_utilization", r.decode_cpu_seconds / (r.decode_seconds * quip::ThreadPool::Global().threads())},
                 {"rotation_share", r.rotation_share},
                 {"quant_matmul_share", r.quant_matmul_share},
                 {"decode_gflops", LinearFlopsPerToken(m) * r.decode_tps * 1e-9},
                 {"prompt_gflops", LinearFlopsPerToken(m) * r.prompt_tps * 1e-9},
                 {"setup_seconds", setup_seconds},
                 {"peak_rss_bytes", quip::PeakRssBytes()}};
  return j;
}

void AddRatios(ordered_json& rows) {
  const ordered_json& fp = rows[0];
  for (auto& r : rows) {
    r["decode_speedup_vs_fp32"] = r["decode_tps"].get<double>() / fp["decode_tps"].get<double>();
    r["prompt_speedup_vs_fp32"] = r["prompt_tps"].get<double>() / fp["prompt_tps"].get<double>();
    r["prompt_cpu_speedup_vs_fp32"] =
        r["prompt_tokens_per_cpu_second"].get<double>() / fp["prompt_tokens_per_cpu_second"].get<double>();
  }
}

// Repeats of every measurement; the run with the median decode speed is reported. On a
// shared VM single runs vary by up to 1.5x (some runs get less than their cores).
int g_repeats = 3;
std::vector<std::string> g_only;  // --only: label substrings; empty = every format

bool Selected(const std::string& label) {
  if (g_only.empty()) return true;
  return std::any_of(g_only.begin(), g_only.end(), [&](const std::string& s) { return label.find(s) != std::string::npos; });
}

quip::SpeedResult MedianSpeed(const quip::Model& m, int prompt, int gen) {
  std::vector<quip::SpeedResult> runs;
  for (int i = 0; i < g_repeats; ++i) runs.push_back(quip::MeasureSpeed(m, prompt, gen, 1));
  std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.decode_tps < b.decode_tps; });
  return runs[runs.size() / 2];
}

// Runs fp32 then each format; progress on stderr. With long_context > 0 the 2-bit
// Kronecker model also decodes after a prompt of that many tokens (attention and KV cache
// reads grow with the context; issue 5 asks that they not become the bottleneck).
ordered_json Suite(const std::string& name, const quip::Model& fp32, int distinct_layers, int prompt, int gen,
                   double read_gbps, int long_context = 0) {
  ordered_json rows = ordered_json::array();
  fmt::print(stderr, "{} fp32 ...\n", name);
  rows.push_back(Row(name, 32, fp32, MedianSpeed(fp32, prompt, gen), read_gbps, 0));
  using quip::Codebook;
  using quip::RotationKind;
  // Every codebook of the stored format (format/stored_linear.h's name table, so a new one
  // gets its rows) at 4/3/2 bits with its method's rotation (QuIP: Kronecker, QuIP#:
  // Hadamard; QTIP's trellis with 1MAD), the scalar 2-bit grid with the Hadamard rotation
  // (what the rotation costs), and QTIP's other codes (and our HASH6, XOR7) at 2 bits.
  std::vector<quip::bench::SyntheticFormat> formats;
  for (const auto& cb : quip::kCodebookNames)
    for (int bits : {4, 3, 2}) {
      const RotationKind rotation = cb.value == Codebook::kScalar ? RotationKind::kKron : RotationKind::kRht;
      formats.push_back({bits, rotation, cb.value});
      if (cb.value == Codebook::kScalar && bits == 2) formats.push_back({2, RotationKind::kRht, Codebook::kScalar});
      if (cb.value == Codebook::kTrellis && bits == 2)
        for (quip::trellis::Code code : {quip::trellis::Code::k3Inst, quip::trellis::Code::kHyb,
                                         quip::trellis::Code::kHash6, quip::trellis::Code::kXor7})
          formats.push_back({2, RotationKind::kRht, Codebook::kTrellis, code});
    }
  for (const auto& f : formats) {
    const std::string format =
        fmt::format("{}-bit {} {}{}", f.bits, quip::RotationName(f.rotation), quip::CodebookName(f.codebook),
                    f.codebook == Codebook::kTrellis ? std::string(" ") + quip::trellis::CodeName(f.code) : "");
    if (!Selected(format)) continue;
    const std::string label = name + " " + format;
    fmt::print(stderr, "{}: quantizing ...\n", label);
    const double t0 = Seconds();
    const quip::Model q = quip::bench::QuantizeNearIncoherent(fp32, f, distinct_layers, 17);
    const double setup = Seconds() - t0;
    fmt::print(stderr, "{}: quantized in {:.1f} s, measuring ...\n", label, setup);
    rows.push_back(Row(name, f.bits, q, MedianSpeed(q, prompt, gen), read_gbps, setup));
    if (long_context > 0 && f.bits == 2 && f.codebook == Codebook::kScalar && f.rotation == RotationKind::kKron) {
      fmt::print(stderr, "{}: decoding after {} prompt tokens ...\n", label, long_context);
      const quip::SpeedResult lr = MedianSpeed(q, long_context, gen);
      ordered_json& row = rows.back();
      row["long_context"] = long_context;
      row["decode_tps_at_long_context"] = lr.decode_tps;
      row["long_context_decode_ratio"] = lr.decode_tps / row["decode_tps"].get<double>();
      // K and V of every layer read once per decoded token, fp32.
      const quip::LlamaConfig& c = q.config;
      row["kv_bytes_per_token_at_long_context"] = 2.0 * 4.0 * c.n_layers * c.kv_dim() * double(long_context);
    }
  }
  AddRatios(rows);
  return rows;
}

std::string Markdown(const ordered_json& result) {
  std::string md = fmt::format(
      "Machine: {} ({} threads, SIMD {}, OpenBLAS core {}); memory read {:.1f} GB/s, triad {:.1f} GB/s.\n\n"
      "| model | format | prompt tok/s | decode tok/s | MB/token | GB/s | % roofline | rotation % | matvec % | "
      "decode vs fp32 | prompt vs fp32 | CPU use | prompt tok/CPU s vs fp32 | prompt rotation % | prompt matmul % |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
      result["machine"]["cpu"].get<std::string>(), result["machine"]["threads"].get<int>(),
      result["machine"]["simd_target"].get<std::string>(), result["machine"]["blas_core"].get<std::string>(),
      result["machine"]["read_gbps"].get<double>(),
      result["machine"]["triad_gbps"].get<double>());
  for (const char* suite : {"synthetic", "books"}) {
    if (!result.contains(suite)) continue;
    for (const auto& r : result[suite]["rows"])
      md += fmt::format("| {} | {} | {:.0f} | {:.2f} | {:.1f} | {:.2f} | {:.0f} | {:.0f} | {:.0f} | {:.2f}x | {:.2f}x | {:.0f}% | "
                        "{:.2f}x | {:.0f} | {:.0f} |\n",
                        r["name"].get<std::string>(), r["format"].get<std::string>(), r["prompt_tps"].get<double>(),
                        r["decode_tps"].get<double>(), r["weight_bytes_per_token"].get<double>() * 1e-6,
                        r["decode_weight_gbps"].get<double>(), 100 * r["roofline_fraction"].get<double>(),
                        100 * r["rotation_share"].get<double>(), 100 * r["quant_matmul_share"].get<double>(),
                        r["decode_speedup_vs_fp32"].get<double>(), r["prompt_speedup_vs_fp32"].get<double>(),
                        100 * r["decode_cpu_utilization"].get<double>(), r["prompt_cpu_speedup_vs_fp32"].get<double>(),
                        100 * r["prompt_rotation_share"].get<double>(), 100 * r["prompt_quant_matmul_share"].get<double>());
  }
  for (const auto& r : result.contains("synthetic") ? result["synthetic"]["rows"] : ordered_json::array())
    if (r.contains("long_context"))
      md += fmt::format(
          "\nLong context ({}): {} decodes at {:.2f} tok/s after a {}-token prompt, {:.2f}x its short-context "
          "speed; the fp32 KV cache then adds {:.1f} MB read per token to {:.1f} MB of weights.\n",
          r["name"].get<std::string>(), r["format"].get<std::string>(), r["decode_tps_at_long_context"].get<double>(),
          r["long_context"].get<int>(), r["long_context_decode_ratio"].get<double>(),
          r["kv_bytes_per_token_at_long_context"].get<double>() * 1e-6, r["weight_bytes_per_token"].get<double>() * 1e-6);
  return md;
}

}  // namespace

int main(int argc, char** argv) {
  quip::UseBlasKernelsForThisCpu(argv);  // as the quip binary does
  int threads = 0, prompt = 128, gen = 32, bandwidth_mib = 1536;
  bool books = true, synthetic = true;
  std::string out, markdown;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        fmt::print(stderr, "kernel_bench: {} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--threads") threads = std::stoi(next());
    else if (a == "--prompt") prompt = std::stoi(next());
    else if (a == "--gen") gen = std::stoi(next());
    else if (a == "--out") out = next();
    else if (a == "--markdown") markdown = next();
    else if (a == "--bandwidth-mib") bandwidth_mib = std::stoi(next());
    else if (a == "--no-books") books = false;
    else if (a == "--no-synthetic") synthetic = false;
    else if (a == "--repeats") g_repeats = std::max(1, std::stoi(next()));
    else if (a == "--only") {
      std::stringstream list(next());
      for (std::string item; std::getline(list, item, ',');) g_only.push_back(item);
    }
    else {
      fmt::print(stderr, "kernel_bench: unknown argument {}\n", a);
      return 2;
    }
  }
  try {
    quip::SetThreads(threads);
    fmt::print(stderr, "memory bandwidth ...\n");
    const quip::MemoryBandwidth bw = quip::MeasureMemoryBandwidth(int64_t(bandwidth_mib) << 20, 5);
    ordered_json result;
    result["machine"] = {{"cpu", CpuName()},
                         {"threads", quip::ThreadPool::Global().threads()},
                         {"simd_target", quip::kernels::KernelTarget()},
                         {"e8p_kernel", quip::kernels::E8PImplName()},
                         // OpenBLAS's kernel set (sgemm of prompts, fp32 decode): OPENBLAS_CORETYPE
                         // overrides its CPU detection, which may not know the newest CPUs.
                         {"blas_core", openblas_get_corename()},
                         {"read_gbps", bw.read_gbps},
                         {"triad_gbps", bw.triad_gbps},
                         {"bandwidth_buffer_bytes", bw.bytes},
                         {"build_type", QUIP_BUILD_TYPE}};
    result["protocol"] = {{"prompt_tokens", prompt},
                          {"gen_tokens", gen},
                          {"repeats", g_repeats},
                          {"reported", "the repeat with the median decode tokens/s"},
                          {"roofline", "weight_bytes_per_token / read_gbps"},
                          {"quantization",
                           "near rounding against an identity Hessian; scalar grid: Kronecker or Hadamard "
                           "incoherence + D-tilde; e8p: Hadamard, E8P codebook (RVQ at 4 bits)"}};
    if (synthetic) {
      quip::LlamaConfig c;
      c.dim = 2048;
      c.hidden_dim = 5632;
      c.n_layers = 8;
      c.n_heads = 32;
      c.n_kv_heads = 4;
      c.head_dim = 64;
      c.vocab_size = 512;
      c.max_seq_len = 2048;
      fmt::print(stderr, "synthetic model ...\n");
      const quip::Model fp32 = quip::bench::MakeRandomModel(c, 5);
      ordered_json config{{"hidden", c.dim},     {"intermediate", c.hidden_dim}, {"layers", c.n_layers},
                          {"heads", c.n_heads},  {"kv_heads", c.n_kv_heads},      {"vocab", c.vocab_size},
                          {"distinct_quantized_layers", 1}};
      const int long_context = std::min(2000, c.max_seq_len - gen - 1);
      result["synthetic"] = {{"config", config},
                             {"rows", Suite("synthetic", fp32, 1, prompt, gen, bw.read_gbps, long_context)}};
    }
    const std::string books_dir = SharedDir() + "/models/books-llama-5m";
    if (books && std::filesystem::exists(books_dir)) {
      const quip::Model fp32 = quip::LoadModel(books_dir);
      result["books"] = {{"model", books_dir},
                         {"rows", Suite("books-llama-5m", fp32, fp32.config.n_layers, prompt, gen, bw.read_gbps)}};
    }
    const std::string json = result.dump(2);
    fmt::print("{}\n", json);
    if (!out.empty()) std::ofstream(out) << json << "\n";
    if (!markdown.empty()) std::ofstream(markdown) << Markdown(result);
    fmt::print(stderr, "{}", Markdown(result));
  } catch (const std::exception& e) {
    fmt::print(stderr, "kernel_bench: error: {}\n", e.what());
    return 1;
  }
  return 0;
}
