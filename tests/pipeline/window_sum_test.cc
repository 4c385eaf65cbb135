// The fixed summation tree of pipeline/window_sum.h. References: closed forms (which nodes
// tile a range), exact sums of small integers, a long-double sum of random values, and the
// property the tree exists for: the same bits for every split of the windows among
// processes and for every arrival order.
#include "pipeline/window_sum.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <barrier>
#include <cmath>
#include <random>
#include <thread>

#include "pipeline/process_group.h"

namespace quip {
namespace {

using Values = std::vector<double>;
const AddFn<Values> kAdd = [](Values& a, Values& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
};

TEST(WindowSum, MaximalNodesTileTheRange) {
  // 11 windows: tree of 16 leaves, nodes past the last window clipped.
  EXPECT_EQ(WindowTreeRoot(11).level, 4);
  EXPECT_EQ(WindowTreeRoot(1).level, 0);
  EXPECT_EQ(WindowTreeRoot(16).level, 4);
  const std::vector<WindowNode> whole = MaximalWindowNodes(0, 11, 11);
  ASSERT_EQ(whole.size(), 1u);
  EXPECT_EQ(whole[0], (WindowNode{4, 0}));
  // [3, 11) = {3} [4, 8) [8, 11) (the last a level-3 node clipped to three windows).
  const std::vector<WindowNode> tail = MaximalWindowNodes(3, 11, 11);
  ASSERT_EQ(tail.size(), 3u);
  EXPECT_EQ(tail[0], (WindowNode{0, 3}));
  EXPECT_EQ(tail[1], (WindowNode{2, 1}));
  EXPECT_EQ(tail[2], (WindowNode{3, 1}));
  for (int64_t windows : {1, 2, 5, 11, 64, 100})
    for (int ranks = 1; ranks <= std::min<int64_t>(windows, 7); ++ranks) {
      int64_t covered = 0;
      for (int r = 0; r < ranks; ++r) {
        const auto [begin, end] = WindowRange(windows, r, ranks);
        EXPECT_EQ(begin, covered);
        EXPECT_LE(end - begin, windows / ranks + 1);
        for (const WindowNode& n : MaximalWindowNodes(begin, end, windows)) {
          EXPECT_EQ(n.begin(), covered);
          covered = n.end(windows);
        }
        EXPECT_EQ(covered, end);
      }
      EXPECT_EQ(covered, windows);
    }
}

// Per-window values whose sums round: magnitudes over 12 decades.
std::vector<Values> RandomWindows(int windows, int length, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Values> out(static_cast<size_t>(windows), Values(static_cast<size_t>(length)));
  for (Values& v : out)
    for (double& x : v) x = std::ldexp(double(rng() >> 11) / double(1ull << 53) - 0.5, int(rng() % 40) - 20);
  return out;
}

// The total when `ranks` processes each sum their WindowRange on `threads` threads (windows
// taken in a shuffled order), then SumWindowNodes puts the nodes together.
Values TreeTotal(const std::vector<Values>& windows, int ranks, int threads, uint64_t order_seed) {
  const int64_t n = int64_t(windows.size());
  std::map<WindowNode, Values> all;
  for (int r = 0; r < ranks; ++r) {
    const auto [begin, end] = WindowRange(n, r, ranks);
    std::vector<int64_t> order(size_t(end - begin));
    for (size_t i = 0; i < order.size(); ++i) order[i] = begin + int64_t(i);
    std::shuffle(order.begin(), order.end(), std::mt19937_64(order_seed + r));
    WindowTreeSum<Values> tree(begin, end, n, kAdd);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        for (size_t i = size_t(t); i < order.size(); i += size_t(threads)) tree.Add(order[i], windows[order[i]]);
      });
    for (auto& th : pool) th.join();
    all.merge(tree.Take());
  }
  return SumWindowNodes(all, n, kAdd);
}

TEST(WindowSum, SameBitsForEverySplitAndOrder) {
  for (int windows : {1, 3, 11, 37, 128}) {
    const std::vector<Values> values = RandomWindows(windows, 64, uint64_t(windows));
    const Values reference = TreeTotal(values, 1, 1, 0);
    // Close to the exact sum (long double accumulation), within a few ulps of the largest terms.
    for (size_t i = 0; i < reference.size(); ++i) {
      long double exact = 0;
      double magnitude = 0;
      for (const Values& v : values) exact += v[i], magnitude = std::max(magnitude, std::abs(v[i]));
      EXPECT_NEAR(reference[i], double(exact), 8 * std::log2(double(windows) + 1) * magnitude * 0x1p-52);
    }
    for (int ranks = 1; ranks <= std::min(windows, 5); ++ranks)
      for (int threads : {1, 3})
        EXPECT_EQ(TreeTotal(values, ranks, threads, 7), reference) << windows << " windows, " << ranks << " ranks";
  }
}

TEST(WindowSum, TheTreeIsNotTheSequentialSum) {
  // Why a tree at all: summing in window order gives other bits than pairs of pairs, so
  // a process cannot just add its contiguous share into a running total.
  // Tree: (1 + 2^-53) + (2^-53 + 2^-53) = 1 + 2^-52 (the first pair rounds to even, 1);
  // in order every 2^-53 is lost to rounding.
  const std::vector<Values> values = {{1.0}, {0x1p-53}, {0x1p-53}, {0x1p-53}};
  EXPECT_EQ(TreeTotal(values, 1, 1, 0)[0], 1.0 + 0x1p-52);
  double sequential = 0;
  for (const Values& v : values) sequential += v[0];
  EXPECT_EQ(sequential, 1.0);
}

TEST(WindowSum, SumAcrossProcessesInOneProcessIsTheTreeSum) {
  const std::vector<Values> values = RandomWindows(9, 10, 3);
  std::map<WindowNode, Values> nodes;
  WindowTreeSum<Values> tree(0, 9, 9, kAdd);
  for (int w = 0; w < 9; ++w) tree.Add(w, values[w]);
  nodes = tree.Take();
  EXPECT_EQ(SumAcrossProcesses(SingleProcess(), nodes, 9), TreeTotal(values, 1, 1, 0));
}

// Ranks as threads of this process, exchanging through shared mailboxes: the collectives'
// semantics of an MPI run without MPI.
class ThreadRanks {
 public:
  explicit ThreadRanks(int ranks) : ranks_(ranks), sync_(ranks), mail_(size_t(ranks), std::vector<Values>(size_t(ranks))) {}

  class Rank final : public ProcessGroup {
   public:
    Rank(ThreadRanks& all, int rank) : all_(all), rank_(rank) {}
    int rank() const override { return rank_; }
    int size() const override { return all_.ranks_; }
    std::vector<Values> AllToAll(std::vector<Values> to_rank) override {
      for (int r = 0; r < all_.ranks_; ++r)
        if (r != rank_) bytes_sent_ += int64_t(to_rank[size_t(r)].size() * sizeof(double));
      all_.mail_[rank_] = std::move(to_rank);
      all_.sync_.arrive_and_wait();
      std::vector<Values> out;
      for (int r = 0; r < all_.ranks_; ++r) out.push_back(all_.mail_[r][rank_]);
      all_.sync_.arrive_and_wait();
      return out;
    }
    std::vector<Values> AllGather(Values mine) override {
      return AllToAll(std::vector<Values>(size_t(all_.ranks_), mine));
    }
    void Broadcast(std::vector<uint8_t>&, int) override { ADD_FAILURE() << "not used here"; }
    int64_t bytes_sent() const override { return bytes_sent_; }

   private:
    ThreadRanks& all_;
    int rank_;
    int64_t bytes_sent_ = 0;
  };

 private:
  int ranks_;
  std::barrier<> sync_;
  std::vector<std::vector<Values>> mail_;  // [from][to]
};

TEST(WindowSum, SumAcrossProcessesIsTheSingleProcessSumOnEveryRank) {
  for (int windows : {1, 6, 11, 37}) {
    const std::vector<Values> values = RandomWindows(windows, 13, uint64_t(windows) + 100);
    const Values reference = TreeTotal(values, 1, 1, 0);
    for (int ranks = 1; ranks <= std::min(windows, 5); ++ranks) {
      ThreadRanks all(ranks);
      std::vector<Values> totals(static_cast<size_t>(ranks));
      std::vector<std::thread> threads;
      for (int r = 0; r < ranks; ++r)
        threads.emplace_back([&, r] {
          ThreadRanks::Rank group(all, r);
          const auto [begin, end] = WindowRange(windows, r, ranks);
          WindowTreeSum<Values> tree(begin, end, windows, kAdd);
          for (int64_t w = end - 1; w >= begin; --w) tree.Add(w, values[size_t(w)]);  // any order
          std::map<WindowNode, Values> nodes = tree.Take();
          totals[size_t(r)] = SumAcrossProcesses(group, nodes, windows);
        });
      for (auto& t : threads) t.join();
      for (int r = 0; r < ranks; ++r)
        EXPECT_EQ(totals[size_t(r)], reference) << windows << " windows, " << ranks << " ranks, rank " << r;
    }
  }
}

// The reduce to some ranks (the ranks that round an input's linears) against the all-reduce
// of the same nodes in the same run: the receivers get the same bits, the others nothing,
// and a rank sends no more than the all-reduce makes it send (less with fewer receivers).
TEST(WindowSum, SumToProcessesIsTheAllReduceOnTheReceiversOnly) {
  for (int windows : {1, 6, 11, 37}) {
    const std::vector<Values> values = RandomWindows(windows, 13, uint64_t(windows) + 200);
    for (int ranks = 1; ranks <= std::min(windows, 5); ++ranks) {
      std::vector<std::vector<int>> receiver_sets = {{0}, {ranks - 1}};
      if (ranks > 2) receiver_sets.push_back({0, ranks - 1});
      for (const std::vector<int>& receivers : receiver_sets) {
        ThreadRanks all(ranks);
        std::vector<Values> reduced(static_cast<size_t>(ranks)), all_reduced(static_cast<size_t>(ranks));
        std::vector<int64_t> reduce_bytes(static_cast<size_t>(ranks)), all_reduce_bytes(static_cast<size_t>(ranks));
        std::vector<std::thread> threads;
        for (int r = 0; r < ranks; ++r)
          threads.emplace_back([&, r] {
            ThreadRanks::Rank group(all, r);
            const auto [begin, end] = WindowRange(windows, r, ranks);
            WindowTreeSum<Values> tree(begin, end, windows, kAdd);
            for (int64_t w = begin; w < end; ++w) tree.Add(w, values[size_t(w)]);
            std::map<WindowNode, Values> nodes = tree.Take(), copy = nodes;
            all_reduced[size_t(r)] = SumAcrossProcesses(group, copy, windows);
            all_reduce_bytes[size_t(r)] = group.bytes_sent();
            reduced[size_t(r)] = SumToProcesses(group, nodes, windows, receivers);
            reduce_bytes[size_t(r)] = group.bytes_sent() - all_reduce_bytes[size_t(r)];
          });
        for (auto& t : threads) t.join();
        for (int r = 0; r < ranks; ++r) {
          SCOPED_TRACE(::testing::Message() << windows << " windows, " << ranks << " ranks, rank " << r);
          const bool receives = std::count(receivers.begin(), receivers.end(), r) > 0;
          ASSERT_EQ(all_reduced[size_t(r)].size(), 13u);
          if (receives) {
            EXPECT_EQ(reduced[size_t(r)], all_reduced[size_t(r)]);  // operator== on doubles: every bit
          } else {
            EXPECT_TRUE(reduced[size_t(r)].empty());
          }
          EXPECT_LE(reduce_bytes[size_t(r)], all_reduce_bytes[size_t(r)]);
        }
        if (ranks > 1) {
          int64_t reduce_total = 0, all_reduce_total = 0;
          for (int r = 0; r < ranks; ++r) reduce_total += reduce_bytes[size_t(r)], all_reduce_total += all_reduce_bytes[size_t(r)];
          EXPECT_LT(reduce_total, all_reduce_total);
        }
      }
    }
  }
}

// Closed forms of the deal: the costliest first, each to the least loaded rank, the lowest on ties.
TEST(WindowSum, AssignToProcessesBalancesTheCosts) {
  EXPECT_EQ(AssignToProcesses({1, 1, 1}, 1), (std::vector<int>{0, 0, 0}));
  EXPECT_EQ(AssignToProcesses({1, 1, 1}, 2), (std::vector<int>{0, 1, 0}));  // round-robin on equal costs
  EXPECT_EQ(AssignToProcesses({1, 1, 1}, 3), (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(AssignToProcesses({5}, 3), (std::vector<int>{0}));
  // A Llama block in one stage (--targets block), costs rows·cols² + cols³/3 with hidden = 2.75·dim:
  // q, k, v, o 1.33, gate and up 3.08, down 25.0 (dim³ units). down alone on rank 0, so only
  // rank 0 needs the down input's moments; on 3 ranks gate and up go to ranks 1 and 2.
  const std::vector<double> block = {4.0 / 3, 4.0 / 3, 4.0 / 3, 4.0 / 3, 2.75 + 1.0 / 3, 2.75 + 1.0 / 3,
                                     2.75 * 2.75 + 2.75 * 2.75 * 2.75 / 3};
  EXPECT_EQ(AssignToProcesses(block, 2), (std::vector<int>{1, 1, 1, 1, 1, 1, 0}));
  EXPECT_EQ(AssignToProcesses(block, 3), (std::vector<int>{1, 2, 1, 2, 1, 2, 0}));
}

}  // namespace
}  // namespace quip
