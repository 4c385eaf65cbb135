#include "quant/row_blocks.h"

#include <algorithm>
#include <thread>

#include "core/phase_profile.h"
#include "core/thread_pool.h"

namespace quip {

void ForRowBlocks(int64_t rows, const char* phase, const std::function<void(int64_t, int64_t)>& fn) {
  const int64_t units = rows / kRowBlockAlign;  // whole aligned blocks; the tail joins the last
  ThreadPool& pool = ThreadPool::Global();
  const int64_t blocks = std::min<int64_t>(units, pool.threads());
  if (blocks <= 1) {
    fn(0, rows);
    return;
  }
  const std::thread::id caller = std::this_thread::get_id();
  pool.Run(blocks, [&](int64_t b) {
    const int64_t r0 = units * b / blocks * kRowBlockAlign;
    const int64_t r1 = b + 1 == blocks ? rows : units * (b + 1) / blocks * kRowBlockAlign;
    const double start = ThreadCpuSeconds();
    fn(r0, r1);
    if (std::this_thread::get_id() != caller) {
      if (PhaseProfile* profile = PhaseProfile::Active()) profile->AddThreadSeconds(phase, ThreadCpuSeconds() - start);
    }
  });
}

}  // namespace quip
