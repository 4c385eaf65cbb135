// The fixed summation tree of pipeline/window_sum.h. References: closed forms (which nodes
// tile a range), exact sums of small integers, a long-double sum of random values, and the
// property the tree exists for: the same bits for every split of the windows among
// processes and for every arrival order.
#include "pipeline/window_sum.h"

#include <gtest/gtest.h>

#include <algorithm>
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

}  // namespace
}  // namespace quip
