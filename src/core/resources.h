// Resource checks before a long run (issue 6): `quip quantize` estimates the memory and
// disk it will need and compares them with what the machine has, so that a run that
// cannot finish fails in the first second with the numbers, not after hours (killed by
// the OOM killer, or ENOSPC while writing the result).
//
// Available memory is MemAvailable from /proc/meminfo; free disk is statvfs() f_bavail
// of the nearest existing folder at or above the output path. Tests (and users who know
// better) can override them:
//   QUIP_FAKE_MEM_AVAILABLE=<bytes>   pretend this much memory is available
//   QUIP_FAKE_DISK_AVAILABLE=<bytes>  pretend this much disk is free
//   QUIP_SKIP_RESOURCE_CHECK=1        skip the check (the estimate may be wrong for you)
// Plain numbers of bytes, optionally with a K, M, G or T suffix (powers of 1024).
#pragma once

#include <cstdint>
#include <string>

namespace quip {

// Everything the estimate needs, as plain numbers (core/ knows no model types).
struct QuantizeWorkload {
  int64_t dim = 0, hidden_dim = 0, q_dim = 0, kv_dim = 0, n_layers = 0, n_heads = 0, vocab_size = 0;
  int64_t max_seq_len = 0, head_dim = 0;
  bool tied_embeddings = false;
  int64_t parameters = 0;       // all weights (fp32 in memory while quantizing)
  int64_t windows = 0, ctx = 0; // calibration set
  int bits = 2;
  int threads = 1;              // linears quantized at once
  int64_t tokenizer_bytes = 0;  // copied into the output folder
};

struct ResourceEstimate {
  int64_t memory_bytes = 0;
  int64_t disk_bytes = 0;
  std::string memory_breakdown;  // "weights 1.2 GB + ..." for messages
  std::string disk_breakdown;
};

ResourceEstimate EstimateQuantize(const QuantizeWorkload& w);

// Peak resident set size of this process so far, in bytes (getrusage).
int64_t PeakRssBytes();

// Bytes available, or -1 when unknown; `source` says where the number came from.
int64_t AvailableMemoryBytes(std::string* source);
int64_t AvailableDiskBytes(const std::string& path, std::string* source);

// Throws quip::Error naming `model` (memory) or `out_dir` (disk) with needed and
// available numbers when either is short. Unknown availability passes.
void CheckResources(const ResourceEstimate& need, const std::string& model, const std::string& out_dir);

// "1.50 GB", "12.0 MB", "512 B".
std::string FormatBytes(int64_t bytes);

}  // namespace quip
