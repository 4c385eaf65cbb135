// Our own parallel loops run on plain std::threads, not OpenMP: an OpenMP team
// busy-waits after each region and steals the cores OpenBLAS's threads need
// (measured: 7x slower quantized perplexity on 2 cores). Threads are started per
// call, which costs microseconds; callers use this for coarse work only.
#pragma once

#include <cstdint>
#include <functional>

namespace quip {

// Number of worker threads for ParallelFor (default: all cores).
void SetWorkerThreads(int threads);
int WorkerThreads();

// Runs fn(i) for every i in [0, n), items handed out dynamically to up to
// WorkerThreads() threads. The first exception thrown by any item is rethrown.
void ParallelFor(int64_t n, const std::function<void(int64_t)>& fn);

}  // namespace quip
