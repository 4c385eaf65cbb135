// A persistent pool of worker threads for fine-grained, per-token work (the fused
// quantized matvec runs ~60 times per decoded token, each for tens to hundreds of
// microseconds). ParallelFor (core/parallel.h) starts threads per call, which costs
// more than such a call's work; this pool starts them once.
//
// Waiting: after a job a worker spins briefly (so the next matvec of the same token
// finds it awake), then sleeps on a condition variable, so an idle process does not
// hold the cores. All parallel inference work runs here (BLAS is kept single-threaded,
// kernels/dense_matmul.h), so nothing else competes for the cores while it spins.
// The pool follows SetWorkerThreads: it is resized on the next Run after
// WorkerThreads() changes. Run is safe to call from any thread; a call made while
// the pool is busy (another thread, or from inside a task) runs its tasks inline.
#pragma once

#include <cstdint>
#include <functional>

namespace quip {

class ThreadPool {
 public:
  // The process-wide pool (WorkerThreads() threads including the caller).
  static ThreadPool& Global();

  // Runs fn(i) for every i in [0, n), handed out dynamically to the workers and the
  // calling thread; returns when all are done. The first exception is rethrown.
  void Run(int64_t n, const std::function<void(int64_t)>& fn);

  // Threads a Run will use (the caller included).
  int threads() const;

  ~ThreadPool();

 private:
  ThreadPool() = default;
  struct State;
  State* state_ = nullptr;
};

}  // namespace quip
