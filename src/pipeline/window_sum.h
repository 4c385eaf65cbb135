// Sums of per-window values (the calibration windows' Hessian and cross-moment sums) in
// one fixed binary tree over the window indices, so that the total's bits do not depend
// on how the windows are split among threads or processes (`mpirun -np N`, issue 18).
//
// Node (level k, index i) covers the windows [i·2^k, (i+1)·2^k) ∩ [0, windows); its sum is
// its left child's plus its right child's, or just the left child's when the right one lies
// past the last window. Floating-point addition is commutative (a + b == b + a bit for bit)
// but not associative, so fixing the tree's shape fixes every rounding. A process holding
// the windows [begin, end) sums its maximal nodes (those inside the range) alone; the
// total is then put together from every process's maximal nodes in the same tree.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "core/error.h"

namespace quip {

struct WindowNode {
  int level = 0;
  int64_t index = 0;
  int64_t begin() const { return index << level; }
  int64_t end(int64_t windows) const { return std::min((index + 1) << level, windows); }
  WindowNode parent() const { return {level + 1, index / 2}; }
  WindowNode left() const { return {level - 1, index * 2}; }
  WindowNode right() const { return {level - 1, index * 2 + 1}; }
  auto operator<=>(const WindowNode&) const = default;
};

// The root of the tree over `windows` (≥ 1) windows.
WindowNode WindowTreeRoot(int64_t windows);
// The maximal nodes inside [begin, end), left to right.
std::vector<WindowNode> MaximalWindowNodes(int64_t begin, int64_t end, int64_t windows);
// The contiguous windows process `rank` of `ranks` holds: an even split, the first ones one longer.
std::pair<int64_t, int64_t> WindowRange(int64_t windows, int rank, int ranks);

// `add(a, b)` makes a the sum a + b (b may be consumed).
template <typename T>
using AddFn = std::function<void(T&, T&)>;

// The maximal nodes of [begin, end) from its windows' values, which may arrive in any order
// and from several threads: a node is added to its sibling as soon as both are complete and
// their parent lies in the range. Holds at most one value per level besides the windows in
// flight.
template <typename T>
class WindowTreeSum {
 public:
  WindowTreeSum(int64_t begin, int64_t end, int64_t windows, AddFn<T> add)
      : begin_(begin), end_(end), windows_(windows), root_level_(WindowTreeRoot(windows).level), add_(std::move(add)) {}

  void Add(int64_t window, T value) {
    QUIP_ASSERT(window >= begin_ && window < end_);
    WindowNode node{0, window};
    std::unique_lock lock(mutex_);
    for (; node.level < root_level_;) {
      const WindowNode parent = node.parent();
      if (parent.begin() < begin_ || parent.end(windows_) > end_) break;
      const WindowNode sibling{node.level, node.index ^ 1};
      if (sibling.begin() >= windows_) {  // nothing on the right: the parent is this node
        node = parent;
        continue;
      }
      auto it = done_.find(sibling);
      if (it == done_.end()) break;
      T other = std::move(it->second);
      done_.erase(it);
      lock.unlock();  // the addition itself runs outside the lock
      if (node.index & 1) {
        add_(other, value);
        value = std::move(other);
      } else {
        add_(value, other);
      }
      node = parent;
      lock.lock();
    }
    done_.emplace(node, std::move(value));
  }

  // After every window of the range was added: its maximal nodes.
  std::map<WindowNode, T> Take() {
    QUIP_ASSERT(done_.size() == MaximalWindowNodes(begin_, end_, windows_).size());
    return std::move(done_);
  }

 private:
  int64_t begin_, end_, windows_;
  int root_level_;
  AddFn<T> add_;
  std::mutex mutex_;
  std::map<WindowNode, T> done_;
};

// The total of all windows from nodes that tile them (every process's maximal nodes); consumes them.
template <typename T>
T SumWindowNodes(std::map<WindowNode, T>& nodes, int64_t windows, const AddFn<T>& add) {
  const std::function<T(WindowNode)> sum = [&](WindowNode node) -> T {
    if (auto it = nodes.find(node); it != nodes.end()) return std::move(it->second);
    QUIP_ASSERT(node.level > 0);
    T left = sum(node.left());
    if (node.right().begin() < windows) {
      T right = sum(node.right());
      add(left, right);
    }
    return left;
  };
  return sum(WindowTreeRoot(windows));
}

}  // namespace quip
