// core/phase_profile.h: scoped timers add into the active table from any thread; no
// table, no effect. References: the sleeps' lower bounds and the flop counts passed in.
#include "core/phase_profile.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace quip {
namespace {

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
    { ScopedPhase phase("first", 0, ScopedPhase::Clock::kWall); }
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([] {
        ScopedPhase phase("work", 2e6);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      });
    for (auto& t : threads) t.join();
  }
  EXPECT_EQ(PhaseProfile::Active(), nullptr) << "the previous (no) table is restored";
  const auto entries = profile.Entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].first, "first");
  EXPECT_FALSE(entries[0].second.thread_seconds);
  const PhaseProfile::Entry& work = entries[1].second;
  EXPECT_EQ(work.calls, 4);
  EXPECT_DOUBLE_EQ(work.flop, 8e6);
  EXPECT_GE(work.seconds, 4 * 0.020) << "thread seconds add up";
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
