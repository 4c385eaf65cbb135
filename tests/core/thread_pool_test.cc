// The persistent pool: every index exactly once, exceptions reach the caller,
// nested and concurrent calls run (inline), and the size follows SetWorkerThreads.
#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/parallel.h"

namespace quip {
namespace {

TEST(ThreadPool, RunsEveryIndexOnceForAnyThreadCount) {
  for (int threads : {1, 2, 7}) {
    SetWorkerThreads(threads);
    EXPECT_EQ(ThreadPool::Global().threads() >= 1, true);
    for (int64_t n : {0, 1, 5, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (int rep = 0; rep < 20; ++rep) ThreadPool::Global().Run(n, [&](int64_t i) { hits[size_t(i)]++; });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[size_t(i)].load(), 20) << "n " << n << " i " << i;
    }
    ThreadPool::Global().Run(4, [](int64_t) {});
    EXPECT_EQ(ThreadPool::Global().threads(), threads);
  }
  SetWorkerThreads(0);
}

TEST(ThreadPool, RethrowsTheFirstException) {
  SetWorkerThreads(3);
  EXPECT_THROW(ThreadPool::Global().Run(100, [](int64_t i) {
    if (i == 42) throw std::runtime_error("item 42");
  }),
               std::runtime_error);
  // Still usable afterwards.
  std::atomic<int> count{0};
  ThreadPool::Global().Run(50, [&](int64_t) { count++; });
  EXPECT_EQ(count.load(), 50);
  SetWorkerThreads(0);
}

TEST(ThreadPool, NestedAndConcurrentCallsComplete) {
  SetWorkerThreads(2);
  std::atomic<int> inner{0};
  ThreadPool::Global().Run(4, [&](int64_t) { ThreadPool::Global().Run(10, [&](int64_t) { inner++; }); });
  EXPECT_EQ(inner.load(), 40);
  std::atomic<int> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c)
    callers.emplace_back([&] {
      for (int rep = 0; rep < 50; ++rep) ThreadPool::Global().Run(7, [&](int64_t) { total++; });
    });
  for (auto& t : callers) t.join();
  EXPECT_EQ(total.load(), 3 * 50 * 7);
  SetWorkerThreads(0);
}

}  // namespace
}  // namespace quip
