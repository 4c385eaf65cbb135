#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/parallel.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define QUIP_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define QUIP_CPU_RELAX() asm volatile("yield")
#else
#define QUIP_CPU_RELAX() std::this_thread::yield()
#endif

namespace quip {
namespace {
// How long an idle worker spins before sleeping: longer than the gap between two
// matvecs of one decoded token (the rotation of a 5632-wide activation, attention).
// Nothing else in the process needs the core meanwhile: BLAS is single-threaded
// (kernels/dense_matmul.h), and a sleeping worker's wake-up costs more than a matvec.
constexpr auto kSpin = std::chrono::microseconds(300);
}  // namespace

struct ThreadPool::State {
  std::vector<std::thread> workers;
  std::mutex busy;  // held by the thread that owns the current job

  // The current job; `generation` is bumped (under `m`) to publish it.
  std::mutex m;
  std::condition_variable wake;
  std::atomic<uint64_t> generation{0};
  bool stop = false;
  const std::function<void(int64_t)>* fn = nullptr;
  int64_t n = 0;
  std::atomic<int64_t> next{0};
  std::atomic<int> finished{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;

  void Work() {
    for (int64_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < n;) {
      try {
        (*fn)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (!failure) failure = std::current_exception();
        next = n;
      }
    }
  }

  void WorkerLoop() {
    uint64_t seen = 0;
    for (;;) {
      // Spin, then sleep, until a new generation is published.
      const auto spin_until = std::chrono::steady_clock::now() + kSpin;
      int polls = 0;
      while (generation.load(std::memory_order_acquire) == seen) {
        QUIP_CPU_RELAX();
        if (++polls % 64 == 0 && std::chrono::steady_clock::now() > spin_until) {
          std::unique_lock<std::mutex> lock(m);
          wake.wait(lock, [&] { return stop || generation.load() != seen; });
          break;
        }
      }
      {
        std::lock_guard<std::mutex> lock(m);
        if (stop) return;
      }
      seen = generation.load(std::memory_order_acquire);
      Work();
      finished.fetch_add(1, std::memory_order_acq_rel);
    }
  }

  void Start(int threads) {
    stop = false;
    for (int t = 1; t < threads; ++t) workers.emplace_back([this] { WorkerLoop(); });
  }
  void Stop() {
    {
      std::lock_guard<std::mutex> lock(m);
      stop = true;
      generation.fetch_add(1);
    }
    wake.notify_all();
    for (auto& w : workers) w.join();
    workers.clear();
  }
};

ThreadPool& ThreadPool::Global() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::~ThreadPool() {
  if (state_) {
    state_->Stop();
    delete state_;
  }
}

int ThreadPool::threads() const { return state_ ? int(state_->workers.size()) + 1 : WorkerThreads(); }

void ThreadPool::Run(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  static std::mutex create;
  {
    std::lock_guard<std::mutex> lock(create);
    if (!state_) state_ = new State;
  }
  State& s = *state_;
  std::unique_lock<std::mutex> busy(s.busy, std::try_to_lock);
  if (!busy.owns_lock() || n == 1) {  // pool in use (nested or concurrent call): run inline
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  if (int(s.workers.size()) + 1 != WorkerThreads()) {
    s.Stop();
    s.Start(WorkerThreads());
  }
  if (s.workers.empty()) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(s.m);
    s.fn = &fn;
    s.n = n;
    s.next = 0;
    s.finished = 0;
    s.failure = nullptr;
    s.generation.fetch_add(1, std::memory_order_release);
  }
  s.wake.notify_all();
  s.Work();
  // Every worker checks in before `fn` (on the caller's stack) goes out of scope.
  const int workers = int(s.workers.size());
  for (int polls = 0; s.finished.load(std::memory_order_acquire) < workers; ++polls) {
    if (polls < 4096) {  // ~100 us, then let a descheduled worker have the core
      QUIP_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
  if (s.failure) std::rethrow_exception(s.failure);
}

}  // namespace quip
