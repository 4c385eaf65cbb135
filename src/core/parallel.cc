#include "core/parallel.h"

#include <cblas.h>
#include <fmt/core.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace quip {
namespace {
std::atomic<int> g_threads{0};
}  // namespace

void SetWorkerThreads(int threads) { g_threads = std::max(0, threads); }

int WorkerThreads() {
  const int t = g_threads.load();
  return t > 0 ? t : HardwareThreads();
}

int HardwareThreads() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

int CapAtHardwareThreads(int requested) {
  const int hardware = HardwareThreads();
  if (requested <= hardware) return requested;
  fmt::print(stderr, "quip: note: {} threads requested but this machine runs {} at once; using {}\n", requested,
             hardware, hardware);
  return hardware;
}

void ParallelFor(int64_t n, const std::function<void(int64_t)>& fn) {
  const int threads = int(std::min<int64_t>(WorkerThreads(), n));
  if (threads <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<int64_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto worker = [&] {
    for (int64_t i; (i = next.fetch_add(1)) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = n;  // stop handing out work
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& th : pool) th.join();
  if (failure) std::rethrow_exception(failure);
}

void UseSingleThreadedBlas() {
  static const bool done = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)done;
}

}  // namespace quip
