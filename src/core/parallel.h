// Our own parallel loops run on plain std::threads, not OpenMP: an OpenMP team
// busy-waits after each region and steals the cores OpenBLAS's threads need
// (measured: 7x slower quantized perplexity on 2 cores). Threads are started per
// call, which costs microseconds; callers use this for coarse work only.
#pragma once

#include <cstdint>
#include <functional>

namespace quip {

// Number of worker threads for ParallelFor (default: all cores). Tests set counts
// above the core count on purpose; user requests go through CapAtHardwareThreads.
void SetWorkerThreads(int threads);
int WorkerThreads();

// Hardware threads this process may run on (its CPU affinity mask; at least 1).
int HardwareThreads();

// A user's --threads request, capped at HardwareThreads(): more threads than the
// machine runs at once only oversubscribe it (each busy pool worker then waits for a
// core, and `--threads 999` turned seconds into minutes). A capped request prints one
// note on stderr. 0 (all cores) and smaller requests pass unchanged.
int CapAtHardwareThreads(int requested);

// Makes OpenBLAS single-threaded, once per process: all parallel work runs on our own
// threads, one BLAS call per thread (kernels/dense_matmul.h says why). Every caller of
// BLAS/LAPACK calls it first (the quantizer's dense steps, kernels' products).
void UseSingleThreadedBlas();

// Runs fn(i) for every i in [0, n), items handed out dynamically to up to
// WorkerThreads() threads. The first exception thrown by any item is rethrown.
void ParallelFor(int64_t n, const std::function<void(int64_t)>& fn);

}  // namespace quip
