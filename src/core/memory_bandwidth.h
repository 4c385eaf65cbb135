// The machine's memory bandwidth, measured the way STREAM does it, so a decode speed
// can be set against the roofline (bytes of weights per token / bandwidth). Buffers
// must be far larger than the last-level cache; work is split over the thread pool.
#pragma once

#include <cstdint>

namespace quip {

struct MemoryBandwidth {
  double read_gbps = 0;   // sum of a buffer of `bytes` (the access pattern of a matvec)
  double triad_gbps = 0;  // a = b + s·c over three buffers of bytes/3 each, 3 streams counted
  int64_t bytes = 0;
  int threads = 0;
};

// Best of `repeats` passes of each kernel with ThreadPool::Global().
MemoryBandwidth MeasureMemoryBandwidth(int64_t bytes, int repeats);

}  // namespace quip
