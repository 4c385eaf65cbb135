#include "core/resources.h"

#include <malloc.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

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

// Address space that a BLAS-calling thread costs, measured on Debian 12's OpenBLAS
// 0.3.21 (strace and /proc/self/maps of ppl and quantize at 1, 2 and 4 threads): each
// buffer is one 128 MiB mmap (128 MiB + 8 KiB when it falls back to malloc); each of
// OpenBLAS's own server threads (started before main, one per core but one) maps one
// as it starts, and each of our threads that calls BLAS maps one (2, 3 and 5 buffers
// seen at 1, 2 and 4 threads on 2 cores). One thread stack per BLAS-calling thread.
// glibc's per-thread malloc arenas (64 MiB reservations) are not counted: when one
// cannot be mapped, malloc uses another arena.
constexpr int64_t kOpenBlasBufferBytes = int64_t{128} << 20;
constexpr int64_t kOpenBlasBufferSlackBytes = 8192;
// Slack for the allocator (heap growth in steps, fragmentation) and small allocations
// the estimates leave out (texts, token lists, tokenizer tables).
constexpr int64_t kAddressSpaceMarginBytes = int64_t{64} << 20;

int64_t ThreadStackBytes() {
  pthread_attr_t attr;
  size_t stack = 0;
  if (::pthread_getattr_default_np(&attr) == 0) {
    ::pthread_attr_getstacksize(&attr, &stack);
    ::pthread_attr_destroy(&attr);
  }
  return stack > 0 ? int64_t(stack) : int64_t{8} << 20;
}

}  // namespace

std::string FormatBytes(int64_t bytes) {
  const double b = double(bytes);
  if (b >= 1e9) return fmt::format("{:.2f} GB", b / 1e9);
  if (b >= 1e6) return fmt::format("{:.1f} MB", b / 1e6);
  if (b >= 1e3) return fmt::format("{:.1f} kB", b / 1e3);
  return fmt::format("{} B", bytes);
}

ResourceEstimate EstimateInference(const InferenceWorkload& w) {
  // The allocations of Session (model/forward.h): the KV cache of every layer, the
  // scratch of one chunk of at most 512 tokens, per thread the attention scores of a
  // chunk against all positions (thread_local in RunBlock), and the logits kept.
  const int64_t d = w.dim, h = w.hidden_dim, q = w.q_dim, kv = w.kv_dim;
  const int64_t chunk = std::min<int64_t>(w.ctx, 512);
  const int64_t threads = std::max(w.threads, 1);
  const int64_t kv_cache = 4 * 2 * w.n_layers * w.ctx * kv;
  const int64_t logits = 4 * w.logits_rows * w.vocab_size;
  const int64_t scratch = 4 * (chunk * (3 * d + 2 * q + 2 * kv + 2 * h)  // ForwardScratch and the residual stream
                               + w.max_seq_len * w.head_dim              // RoPE tables
                               + threads * chunk * w.ctx);               // attention scores
  ResourceEstimate e;
  e.task = "run";
  e.advice = "try a shorter --ctx or fewer --threads";
  e.blas_threads = int(threads);
  e.mapped_bytes = w.weights_bytes;
  e.memory_bytes = w.weights_bytes + kv_cache + logits + scratch;
  e.memory_breakdown = fmt::format("weights {} + KV cache {} + logits {} + attention scores and scratch {}",
                                   FormatBytes(w.weights_bytes), FormatBytes(kv_cache), FormatBytes(logits),
                                   FormatBytes(scratch));
  return e;
}

int64_t AddressSpaceNeeded(const ResourceEstimate& e, const AddressSpaceNow& now, std::string* breakdown) {
  const int64_t work = std::max<int64_t>(0, e.memory_bytes - e.mapped_bytes);
  const int64_t threads = std::max(e.blas_threads, 1);
  // The server threads may not have mapped theirs yet (they race with main).
  const int64_t buffers = std::max<int64_t>(0, now.other_threads + threads - now.blas_buffers);
  const int64_t blas = buffers * (kOpenBlasBufferBytes + kOpenBlasBufferSlackBytes);
  const int64_t stacks = threads * ThreadStackBytes();
  if (breakdown != nullptr)
    *breakdown = fmt::format("{} for the run + {} for {} OpenBLAS buffers still to map + {} of thread stacks + {} margin",
                             FormatBytes(work), FormatBytes(blas), buffers, FormatBytes(stacks),
                             FormatBytes(kAddressSpaceMarginBytes));
  return work + blas + stacks + kAddressSpaceMarginBytes;
}

int64_t AddressSpaceLimitBytes() {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return -1;
  return int64_t(std::min<rlim_t>(limit.rlim_cur, rlim_t(INT64_MAX)));
}

AddressSpaceNow MeasureAddressSpaceNow() {
  AddressSpaceNow now;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    std::istringstream fields(line);
    std::string key;
    int64_t value = -1;
    if (!(fields >> key >> value) || value < 0) continue;
    if (key == "VmSize:") now.in_use_bytes = value * 1024;
    if (key == "Threads:") now.other_threads = int(std::max<int64_t>(0, value - 1));
  }
  // OpenBLAS buffers already mapped: anonymous read-write regions of whole buffers
  // (neighbouring buffers show as one region).
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    std::istringstream fields(line);
    std::string range, perms, offset, device, inode, name;
    fields >> range >> perms >> offset >> device >> inode >> name;
    const size_t dash = range.find('-');
    if (perms != "rw-p" || inode != "0" || !name.empty() || dash == std::string::npos) continue;
    const int64_t size = int64_t(std::stoull(range.substr(dash + 1), nullptr, 16) - std::stoull(range.substr(0, dash), nullptr, 16));
    const int64_t n = (size + kOpenBlasBufferBytes / 2) / kOpenBlasBufferBytes;
    if (n >= 1 && std::abs(size - n * kOpenBlasBufferBytes) <= n * kOpenBlasBufferSlackBytes) now.blas_buffers += int(n);
  }
  return now;
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
  // The address-space limit first, and always: exceeding it hangs inside OpenBLAS.
  const int64_t limit = AddressSpaceLimitBytes();
  const AddressSpaceNow now = limit >= 0 ? MeasureAddressSpaceNow() : AddressSpaceNow{};
  const int64_t in_use = now.in_use_bytes;
  if (limit >= 0 && in_use >= 0) {
    std::string parts;
    const int64_t total = in_use + AddressSpaceNeeded(need, now, &parts);
    QUIP_CHECK_INPUT(total <= limit, model,
                     "address-space limit too small to {}: needs about {} ({} mapped now + {}) but ulimit -v "
                     "(RLIMIT_AS) allows {}; raise the limit or {}",
                     need.task, FormatBytes(total), FormatBytes(in_use), parts, FormatBytes(limit), need.advice);
  }
  const char* skip = std::getenv("QUIP_SKIP_RESOURCE_CHECK");
  if (skip != nullptr && *skip != '\0' && std::string(skip) != "0") return;
  std::string source;
  const int64_t memory = AvailableMemoryBytes(&source);
  QUIP_CHECK_INPUT(memory < 0 || need.memory_bytes <= memory, model,
                   "not enough memory to {}: needs about {} ({}) but {} is available ({}); {} "
                   "(QUIP_SKIP_RESOURCE_CHECK=1 skips this check)",
                   need.task, FormatBytes(need.memory_bytes), need.memory_breakdown, FormatBytes(memory), source,
                   need.advice);
  if (out_dir.empty() || need.disk_bytes <= 0) return;
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

int64_t CurrentRssBytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    std::istringstream fields(line);
    std::string key;
    int64_t kb = -1;
    if (fields >> key >> kb && key == "VmRSS:" && kb >= 0) return kb * 1024;
  }
  return -1;
}

void ShareOneMallocArena() { mallopt(M_ARENA_MAX, 1); }

void ReuseFreedMemory() {
  static const bool done = [] {
    mallopt(M_MMAP_MAX, 0);
    // -1 turns trimming off (mallopt(3)); INT_MAX, the largest positive setting, still let
    // glibc hand back the heap's top whenever more than 2 GiB of it was free, and the
    // 0.38B run then faulted those pages in again: 2.2 GB three times in four layers.
    mallopt(M_TRIM_THRESHOLD, -1);
    return true;
  }();
  (void)done;
}

}  // namespace quip
