#include "core/resources.h"

#include <sys/resource.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/error.h"

namespace quip {
namespace {

// Parses "<digits>[KMGT]"; -1 when malformed.
int64_t ParseBytes(const std::string& text) {
  if (text.empty()) return -1;
  size_t pos = 0;
  long double value = 0;
  try {
    value = std::stold(text, &pos);
  } catch (...) {
    return -1;
  }
  std::string suffix = text.substr(pos);
  if (suffix.size() > 1 && (suffix.back() == 'B' || suffix.back() == 'b')) suffix.pop_back();
  const char* units = "KMGT";
  if (!suffix.empty()) {
    if (suffix.size() != 1) return -1;
    const char* u = std::strchr(units, std::toupper(static_cast<unsigned char>(suffix[0])));
    if (u == nullptr || *u == '\0') return -1;
    for (const char* p = units; p <= u; ++p) value *= 1024;
  }
  if (!(value >= 0) || value > 9e18L) return -1;
  return static_cast<int64_t>(value);
}

// An override from the environment; `set` tells whether the variable exists.
int64_t FromEnv(const char* name, bool* set) {
  const char* v = std::getenv(name);
  *set = v != nullptr && *v != '\0';
  if (!*set) return -1;
  const int64_t bytes = ParseBytes(v);
  QUIP_CHECK_INPUT(bytes >= 0, name, "'{}' is not a number of bytes (e.g. 1073741824 or 1G)", v);
  return bytes;
}

}  // namespace

std::string FormatBytes(int64_t bytes) {
  const double b = double(bytes);
  if (b >= 1e9) return fmt::format("{:.2f} GB", b / 1e9);
  if (b >= 1e6) return fmt::format("{:.1f} MB", b / 1e6);
  if (b >= 1e3) return fmt::format("{:.1f} kB", b / 1e3);
  return fmt::format("{} B", bytes);
}

ResourceEstimate EstimateQuantize(const QuantizeWorkload& w) {
  // Memory (the allocations of QuantizeModel and QuantizeMatrix, see src/pipeline and src/quant):
  //  - weights: every parameter as fp32 (memory-mapped F32 pages must stay resident too)
  //    plus the packed codes that replace them;
  //  - activations: the residual stream of every calibration window, the KV cache and
  //    the forward scratch of one window;
  //  - Hessians: four accumulators in double (qkv, o, gate/up, down inputs) and their means,
  //    plus, per linear being quantized at once, about six n x n double matrices (H copies,
  //    damped/transformed H, its LDL factor) and four rows x cols double matrices.
  const int64_t d = w.dim, h = w.hidden_dim, q = w.q_dim, kv = w.kv_dim;
  const int64_t linear_weights = w.n_layers * (d * q + 2 * d * kv + q * d + 3 * d * h);
  const int64_t weights = 4 * w.parameters + linear_weights * w.bits / 8;
  const int64_t activations =
      4 * (w.windows * w.ctx * d                            // residual stream of all windows
           + 2 * w.n_layers * w.ctx * kv                    // KV cache
           + w.ctx * (2 * d + q + 2 * kv + q + 3 * h)       // scratch vectors
           + w.ctx * w.ctx * std::max<int64_t>(w.n_heads, 1)  // attention scores
           + w.max_seq_len * w.head_dim);                   // RoPE tables
  const int64_t accumulators = 2 * 8 * (2 * d * d + q * q + h * h);
  // The linears of one block, largest Hessian first: (n, rows x cols).
  std::vector<std::pair<int64_t, int64_t>> jobs = {{h, d * h}, {d, h * d}, {d, h * d}, {d, q * d},
                                                   {d, kv * d}, {d, kv * d}, {q, d * q}};
  int64_t per_job = 0;
  for (int i = 0; i < std::clamp(w.threads, 1, 7); ++i) per_job += 8 * (6 * jobs[i].first * jobs[i].first + 4 * jobs[i].second);
  ResourceEstimate e;
  e.memory_bytes = weights + activations + accumulators + per_job;
  e.memory_breakdown = fmt::format("weights {} + calibration activations {} + Hessians and rounding work {}",
                                   FormatBytes(weights), FormatBytes(activations), FormatBytes(accumulators + per_job));

  // Disk: embeddings, norms and an untied head stay fp32; linears become packed codes
  // with per-row scale/zero and a per-column rescale; headers, config, report, tokenizer.
  const int64_t dense = 4 * (w.vocab_size * d * (w.tied_embeddings ? 1 : 2) + (2 * w.n_layers + 1) * d);
  const int64_t per_row = w.n_layers * 4 * (2 * (q + 2 * kv + d + 2 * h + d) + 4 * d + q + h);
  const int64_t codes = linear_weights * w.bits / 8 + w.n_layers * 7 * d;  // + byte padding per row (bound)
  const int64_t metadata = 64 * 1024 + w.n_layers * 7 * 512;
  e.disk_bytes = dense + per_row + codes + metadata + w.tokenizer_bytes;
  e.disk_breakdown = fmt::format("fp32 embeddings, norms and head {} + packed linears {} + tokenizer and metadata {}",
                                 FormatBytes(dense), FormatBytes(codes + per_row),
                                 FormatBytes(metadata + w.tokenizer_bytes));
  return e;
}

int64_t AvailableMemoryBytes(std::string* source) {
  bool fake = false;
  const int64_t fake_bytes = FromEnv("QUIP_FAKE_MEM_AVAILABLE", &fake);
  if (fake) {
    *source = "QUIP_FAKE_MEM_AVAILABLE";
    return fake_bytes;
  }
  *source = "MemAvailable in /proc/meminfo";
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string key, unit;
    int64_t kb = -1;
    if (fields >> key >> kb >> unit && key == "MemAvailable:" && kb >= 0) return kb * 1024;
  }
  return -1;
}

int64_t AvailableDiskBytes(const std::string& path, std::string* source) {
  bool fake = false;
  const int64_t fake_bytes = FromEnv("QUIP_FAKE_DISK_AVAILABLE", &fake);
  if (fake) {
    *source = "QUIP_FAKE_DISK_AVAILABLE";
    return fake_bytes;
  }
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path dir = fs::absolute(path, ec).lexically_normal();
  while (!dir.empty() && !fs::exists(dir, ec) && dir != dir.parent_path()) dir = dir.parent_path();
  struct statvfs st {};
  if (dir.empty() || ::statvfs(dir.c_str(), &st) != 0) return -1;
  *source = "free space of " + dir.string();
  return int64_t(st.f_bavail) * int64_t(st.f_frsize);
}

void CheckResources(const ResourceEstimate& need, const std::string& model, const std::string& out_dir) {
  const char* skip = std::getenv("QUIP_SKIP_RESOURCE_CHECK");
  if (skip != nullptr && *skip != '\0' && std::string(skip) != "0") return;
  std::string source;
  const int64_t memory = AvailableMemoryBytes(&source);
  QUIP_CHECK_INPUT(memory < 0 || need.memory_bytes <= memory, model,
                   "not enough memory to quantize: needs about {} ({}) but {} is available ({}); try fewer "
                   "--nsamples, a shorter --ctx or fewer --threads (QUIP_SKIP_RESOURCE_CHECK=1 skips this check)",
                   FormatBytes(need.memory_bytes), need.memory_breakdown, FormatBytes(memory), source);
  const int64_t disk = AvailableDiskBytes(out_dir, &source);
  QUIP_CHECK_INPUT(disk < 0 || need.disk_bytes <= disk, out_dir,
                   "not enough disk space for the output: needs about {} ({}) but {} is free ({}) "
                   "(QUIP_SKIP_RESOURCE_CHECK=1 skips this check)",
                   FormatBytes(need.disk_bytes), need.disk_breakdown, FormatBytes(disk), source);
}

int64_t PeakRssBytes() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return int64_t(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

}  // namespace quip
