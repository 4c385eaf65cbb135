#include "pipeline/window_sum.h"

namespace quip {

WindowNode WindowTreeRoot(int64_t windows) {
  QUIP_ASSERT(windows >= 1);
  int level = 0;
  while ((int64_t{1} << level) < windows) ++level;
  return {level, 0};
}

std::vector<WindowNode> MaximalWindowNodes(int64_t begin, int64_t end, int64_t windows) {
  std::vector<WindowNode> out;
  const std::function<void(WindowNode)> visit = [&](WindowNode node) {
    const int64_t b = node.begin(), e = node.end(windows);
    if (b >= windows || e <= begin || b >= end) return;
    if (b >= begin && e <= end) {
      out.push_back(node);
      return;
    }
    visit(node.left());
    visit(node.right());
  };
  if (begin < end) visit(WindowTreeRoot(windows));
  return out;
}

std::pair<int64_t, int64_t> WindowRange(int64_t windows, int rank, int ranks) {
  const int64_t base = windows / ranks, extra = windows % ranks;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace quip
