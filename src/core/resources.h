// Resource checks before a long run (issue 6): `quip quantize` estimates the memory and
// disk it will need and compares them with what the machine has, so that a run that
// cannot finish fails in the first second with the numbers, not after hours (killed by
// the OOM killer, or ENOSPC while writing the result). The quantize estimate is counted
// next to the calibration code (pipeline/calibration_memory.h); `ppl`, `generate` and
// `bench` estimate memory here (EstimateInference: weights, KV cache, logits).
//
// Address space (issue 13): under `ulimit -v` (RLIMIT_AS) Debian 12's OpenBLAS 0.3.21
// retries a failed buffer mmap forever, so a run that would exceed the limit hangs
// instead of failing. Every estimate is therefore also checked against RLIMIT_AS: the
// address space mapped now (VmSize) + what the run still allocates + OpenBLAS's buffers
// and the thread stacks. This check cannot be skipped (the alternative is a hang).
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

// Inference (ppl, generate, bench): one Session of `ctx` positions on a loaded model.
struct InferenceWorkload {
  int64_t dim = 0, hidden_dim = 0, q_dim = 0, kv_dim = 0, n_layers = 0, vocab_size = 0;
  int64_t max_seq_len = 0, head_dim = 0;
  int64_t ctx = 0;            // positions of the session (KV cache, attention scores)
  int64_t logits_rows = 1;    // rows of logits held at once (ppl: a whole window)
  int64_t weights_bytes = 0;  // the loaded model, already mapped when the check runs
  int threads = 1;
};

struct ResourceEstimate {
  int64_t memory_bytes = 0;
  int64_t disk_bytes = 0;        // 0: the run writes nothing (no disk check)
  int64_t mapped_bytes = 0;      // part of memory_bytes already mapped when the check runs
  int blas_threads = 1;          // threads that may call BLAS at once (each maps a buffer)
  std::string memory_breakdown;  // "weights 1.2 GB + ..." for messages
  std::string disk_breakdown;
  std::string task;              // "not enough memory to <task>"
  std::string advice;            // what to change, e.g. "try a shorter --ctx"
};

ResourceEstimate EstimateInference(const InferenceWorkload& w);

// The process when the check runs: VmSize, threads besides the caller (OpenBLAS's
// server threads, before our pool starts) and OpenBLAS buffers already mapped.
struct AddressSpaceNow {
  int64_t in_use_bytes = -1;  // -1: unknown
  int other_threads = 0;
  int blas_buffers = 0;
};
AddressSpaceNow MeasureAddressSpaceNow();

// Address space the run maps on top of `now.in_use_bytes`: the rest of memory_bytes,
// the OpenBLAS buffers not mapped yet, thread stacks and a margin. `breakdown` (may be
// null) receives the parts for messages.
int64_t AddressSpaceNeeded(const ResourceEstimate& e, const AddressSpaceNow& now, std::string* breakdown);

// RLIMIT_AS in bytes, or -1 when unlimited.
int64_t AddressSpaceLimitBytes();

// Peak resident set size of this process so far, in bytes (getrusage).
int64_t PeakRssBytes();
// Resident set size now (VmRSS in /proc/self/status), in bytes; -1 when unknown.
int64_t CurrentRssBytes();

// Bytes available, or -1 when unknown; `source` says where the number came from.
int64_t AvailableMemoryBytes(std::string* source);
int64_t AvailableDiskBytes(const std::string& path, std::string* source);

// Throws quip::Error naming `model` (memory, address space) or `out_dir` (disk) with
// needed and available numbers when one is short. Unknown availability passes; an
// empty `out_dir` (or disk_bytes 0) skips the disk check.
void CheckResources(const ResourceEstimate& need, const std::string& model, const std::string& out_dir);

// "1.50 GB", "12.0 MB", "512 B".
std::string FormatBytes(int64_t bytes);

// Makes freed memory reusable by later allocations of this process: glibc serves blocks
// above its mmap threshold (at most 32 MB) with fresh mmap()s, so every n×n double matrix
// the quantizer allocates (254 MB at n = 5632, a dozen per linear) page-faults and zeroes
// its memory again; at the 0.38B shape with 4 windows that kernel time was ~25 % of the
// CPU (issue 19). With mmap off and heap trimming off, freed blocks are reused; the
// resident set stays at its peak until exit, which the peak already was. Process-wide
// (mallopt); QuantizeModel calls it. Idempotent.
void ReuseFreedMemory();

// One malloc arena for every thread. glibc gives each new thread its own arena, whose heaps
// hold at most 64 MB: a larger block allocated on a worker thread is mapped afresh and
// unmapped when freed whatever ReuseFreedMemory set, so the quantizer's per-matrix
// temporaries on pool threads (W' of a down_proj is 92 MB) page-faulted again for every
// matrix: ~10 M minor faults and ~30 s of system time in the 0.38B 4-window run. Must run
// before a second thread allocates (first thing in main()); the arena's lock is taken per
// malloc, which the quantizer and the forward pass (buffers allocated up front) rarely do.
void ShareOneMallocArena();

}  // namespace quip
