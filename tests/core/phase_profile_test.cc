// core/phase_profile.h: scoped timers add into the active table from any thread; no
// table, no effect. References: the thread CPU clock (clock_gettime) the workers spin
// on, a sleep that uses no CPU, and the flop counts passed in.
#include "core/phase_profile.h"

#include <gtest/gtest.h>

#include <ctime>
#include <thread>
#include <vector>

namespace quip {
namespace {

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

TEST(PhaseProfile, NothingRecordedWithoutActiveTable) {
  PhaseProfile profile;
  { ScopedPhase phase("idle", 1e9); }
  EXPECT_EQ(PhaseProfile::Active(), nullptr);
  EXPECT_TRUE(profile.Entries().empty());
}

TEST(PhaseProfile, AccumulatesAcrossThreadsInFirstSeenOrder) {
  PhaseProfile profile;
  {
    const ActiveProfile active(&profile);
    {
      ScopedPhase phase("first", 0, ScopedPhase::Clock::kWall);
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
    {
      ScopedPhase phase("sleeping");  // thread CPU clock: a sleep costs nothing
      std::this_thread::sleep_for(std::chrono::milliseconds(30));
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([] {
        ScopedPhase phase("work", 2e6);
        const double start = ThreadCpuSeconds();
        while (ThreadCpuSeconds() - start < 0.020) {
        }
      });
    for (auto& t : threads) t.join();
  }
  EXPECT_EQ(PhaseProfile::Active(), nullptr) << "the previous (no) table is restored";
  const auto entries = profile.Entries();
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].first, "first");
  EXPECT_FALSE(entries[0].second.thread_seconds);
  EXPECT_GE(entries[0].second.seconds, 0.030) << "wall clock";
  EXPECT_EQ(entries[1].first, "sleeping");
  EXPECT_LT(entries[1].second.seconds, 0.010) << "thread CPU clock";
  const PhaseProfile::Entry& work = entries[2].second;
  EXPECT_EQ(work.calls, 4);
  EXPECT_DOUBLE_EQ(work.flop, 8e6);
  EXPECT_GE(work.seconds, 4 * 0.020) << "thread CPU seconds add up";
  EXPECT_TRUE(work.thread_seconds);

  const nlohmann::json j = profile.ToJson();
  EXPECT_DOUBLE_EQ(j["work"]["gflop"].get<double>(), 8e-3);
  EXPECT_DOUBLE_EQ(j["work"]["gflops"].get<double>(), 8e-3 / work.seconds);
  EXPECT_TRUE(j["first"]["gflop"].is_null()) << "no closed form given";
  EXPECT_TRUE(j["work"]["summed_over_threads"].get<bool>());
  EXPECT_NE(profile.Table().find("work *"), std::string::npos) << profile.Table();
}

}  // namespace
}  // namespace quip
