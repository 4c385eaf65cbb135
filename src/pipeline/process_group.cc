#include "pipeline/process_group.h"

#include <algorithm>

namespace quip {
namespace {

class Single final : public ProcessGroup {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::vector<std::vector<double>> AllToAll(std::vector<std::vector<double>> to_rank) override { return to_rank; }
  std::vector<std::vector<double>> AllGather(std::vector<double> mine) override { return {std::move(mine)}; }
  void Broadcast(std::vector<uint8_t>&, int) override {}
  int64_t bytes_sent() const override { return 0; }
};

}  // namespace

ProcessGroup& SingleProcess() {
  static Single single;
  return single;
}

std::vector<double> SumAcrossProcesses(ProcessGroup& group, std::map<WindowNode, std::vector<double>>& mine,
                                       int64_t windows) {
  const int ranks = group.size();
  QUIP_ASSERT(!mine.empty());
  const size_t length = mine.begin()->second.size();
  auto slice_begin = [&](int s) { return length * size_t(s) / size_t(ranks); };

  // Reduce-scatter: rank s gets slice s of every node, left to right (MaximalWindowNodes' order,
  // which every rank can compute for every other).
  const auto [my_begin, my_end] = WindowRange(windows, group.rank(), ranks);
  const std::vector<WindowNode> my_nodes = MaximalWindowNodes(my_begin, my_end, windows);
  QUIP_ASSERT(my_nodes.size() == mine.size());
  std::vector<std::vector<double>> to_rank(static_cast<size_t>(ranks));
  for (int s = 0; s < ranks; ++s)
    for (const WindowNode& node : my_nodes) {
      const std::vector<double>& values = mine.at(node);
      QUIP_ASSERT(values.size() == length);
      to_rank[s].insert(to_rank[s].end(), values.begin() + slice_begin(s), values.begin() + slice_begin(s + 1));
    }
  mine.clear();
  const std::vector<std::vector<double>> received = group.AllToAll(std::move(to_rank));
  const int me = group.rank();
  const size_t slice = slice_begin(me + 1) - slice_begin(me);
  std::map<WindowNode, std::vector<double>> slices;
  for (int r = 0; r < ranks; ++r) {
    const auto [begin, end] = WindowRange(windows, r, ranks);
    const std::vector<WindowNode> nodes = MaximalWindowNodes(begin, end, windows);
    QUIP_ASSERT(received[r].size() == nodes.size() * slice);
    for (size_t k = 0; k < nodes.size(); ++k)
      slices.emplace(nodes[k], std::vector<double>(received[r].begin() + k * slice, received[r].begin() + (k + 1) * slice));
  }
  const AddFn<std::vector<double>> add = [](std::vector<double>& a, std::vector<double>& b) {
    for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  };
  std::vector<double> my_total = SumWindowNodes(slices, windows, add);

  // All-gather the slices.
  const std::vector<std::vector<double>> totals = group.AllGather(std::move(my_total));
  std::vector<double> total;
  total.reserve(length);
  for (const auto& t : totals) total.insert(total.end(), t.begin(), t.end());
  QUIP_ASSERT(total.size() == length);
  return total;
}

}  // namespace quip
