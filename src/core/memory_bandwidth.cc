#include "core/memory_bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>

#include "core/thread_pool.h"

namespace quip {
namespace {
double Seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

MemoryBandwidth MeasureMemoryBandwidth(int64_t bytes, int repeats) {
  ThreadPool& pool = ThreadPool::Global();
  const int threads = pool.threads();
  MemoryBandwidth r;
  r.bytes = bytes;
  r.threads = threads;
  const int64_t n = bytes / 3 / int64_t(sizeof(float));
  // Uninitialised heap arrays: pages are first touched by the thread that streams them.
  std::unique_ptr<float[]> a(new float[n]), b(new float[n]), c(new float[n]);
  auto slice = [&](int64_t task, int64_t len, auto fn) {
    const int64_t per = (len + threads - 1) / threads;
    const int64_t lo = std::min(len, task * per), hi = std::min(len, lo + per);
    fn(lo, hi);
  };
  pool.Run(threads, [&](int64_t t) {
    slice(t, n, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) a[i] = 0.0f, b[i] = 1.0f, c[i] = 2.0f;
    });
  });

  // Triad.
  double best = 1e30;
  for (int rep = 0; rep < repeats; ++rep) {
    const double t0 = Seconds();
    pool.Run(threads, [&](int64_t t) {
      slice(t, n, [&](int64_t lo, int64_t hi) {
        float* __restrict pa = a.get();
        const float* __restrict pb = b.get();
        const float* __restrict pc = c.get();
        for (int64_t i = lo; i < hi; ++i) pa[i] = pb[i] + 3.0f * pc[i];
      });
    });
    best = std::min(best, Seconds() - t0);
  }
  r.triad_gbps = 3.0 * double(n) * sizeof(float) / best * 1e-9;

  // Read sweep over all three arrays as one stream of 64-bit words per array slice.
  std::atomic<uint64_t> sink{0};
  best = 1e30;
  for (int rep = 0; rep < repeats; ++rep) {
    const double t0 = Seconds();
    pool.Run(threads, [&](int64_t t) {
      uint64_t sum = 0;
      for (const float* arr : {a.get(), b.get(), c.get()}) {
        const uint64_t* words = reinterpret_cast<const uint64_t*>(arr);
        slice(t, n / 2, [&](int64_t lo, int64_t hi) {
          uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
          int64_t i = lo;
          for (; i + 4 <= hi; i += 4) s0 += words[i], s1 += words[i + 1], s2 += words[i + 2], s3 += words[i + 3];
          for (; i < hi; ++i) s0 += words[i];
          sum += s0 + s1 + s2 + s3;
        });
      }
      sink += sum;
    });
    best = std::min(best, Seconds() - t0);
  }
  r.read_gbps = 3.0 * double(n / 2) * 8 / best * 1e-9;
  return r;
}

}  // namespace quip
