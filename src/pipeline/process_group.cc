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
  std::vector<int> everyone(static_cast<size_t>(group.size()));
  for (int r = 0; r < group.size(); ++r) everyone[size_t(r)] = r;
  return SumToProcesses(group, mine, windows, everyone);
}

std::vector<double> SumToProcesses(ProcessGroup& group, std::map<WindowNode, std::vector<double>>& mine,
                                   int64_t windows, const std::vector<int>& receivers) {
  const int ranks = group.size();
  QUIP_ASSERT(!receivers.empty() && std::is_sorted(receivers.begin(), receivers.end()) && receivers.front() >= 0 &&
              receivers.back() < ranks);
  const bool receiver = std::binary_search(receivers.begin(), receivers.end(), group.rank());
  QUIP_ASSERT(!mine.empty());
  const size_t length = mine.begin()->second.size();
  auto slice_begin = [&](int s) { return length * size_t(s) / size_t(ranks); };

  // Reduce-scatter: rank s gets slice s of every node, left to right (MaximalWindowNodes' order,
  // which every rank can compute for every other).
  const auto [my_begin, my_end] = WindowRange(windows, group.rank(), ranks);
  const std::vector<WindowNode> my_nodes = MaximalWindowNodes(my_begin, my_end, windows);
  QUIP_ASSERT(my_nodes.size() == mine.size());
  std::vector<std::vector<double>> to_rank(static_cast<size_t>(ranks));
  for (const WindowNode& node : my_nodes) {  // each node freed once copied: one copy of the sums alive
    auto it = mine.find(node);
    QUIP_ASSERT(it != mine.end() && it->second.size() == length);
    for (int s = 0; s < ranks; ++s)
      to_rank[s].insert(to_rank[s].end(), it->second.begin() + slice_begin(s), it->second.begin() + slice_begin(s + 1));
    mine.erase(it);
  }
  std::vector<std::vector<double>> received = group.AllToAll(std::move(to_rank));
  const int me = group.rank();
  const size_t slice = slice_begin(me + 1) - slice_begin(me);
  std::map<WindowNode, std::vector<double>> slices;
  for (int r = 0; r < ranks; ++r) {
    const auto [begin, end] = WindowRange(windows, r, ranks);
    const std::vector<WindowNode> nodes = MaximalWindowNodes(begin, end, windows);
    QUIP_ASSERT(received[r].size() == nodes.size() * slice);
    for (size_t k = 0; k < nodes.size(); ++k)
      slices.emplace(nodes[k], std::vector<double>(received[r].begin() + k * slice, received[r].begin() + (k + 1) * slice));
    received[r] = {};  // copied into its nodes' slices
  }
  const AddFn<std::vector<double>> add = [](std::vector<double>& a, std::vector<double>& b) {
    for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  };
  std::vector<double> my_total = SumWindowNodes(slices, windows, add);

  // Gather the slices on the receivers.
  std::vector<std::vector<double>> slice_to(static_cast<size_t>(ranks));
  for (int r : receivers) slice_to[size_t(r)] = my_total;
  my_total = {};
  const std::vector<std::vector<double>> totals = group.AllToAll(std::move(slice_to));
  if (!receiver) return {};
  std::vector<double> total;
  total.reserve(length);
  for (const auto& t : totals) total.insert(total.end(), t.begin(), t.end());
  QUIP_ASSERT(total.size() == length);
  return total;
}

std::vector<int> AssignToProcesses(const std::vector<double>& costs, int ranks) {
  QUIP_ASSERT(ranks >= 1);
  std::vector<size_t> order(costs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return costs[a] > costs[b]; });
  std::vector<double> load(static_cast<size_t>(ranks), 0.0);
  std::vector<int> owner(costs.size());
  for (size_t i : order) {
    const int r = int(std::min_element(load.begin(), load.end()) - load.begin());  // the first of equals
    owner[i] = r;
    load[size_t(r)] += costs[i];
  }
  return owner;
}

}  // namespace quip
