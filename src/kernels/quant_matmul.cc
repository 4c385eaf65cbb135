// Threading and BLAS glue around the SIMD kernels; no SIMD here.
#include "kernels/quant_matmul.h"

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/dense_matmul.h"
#include "kernels/q8_matmul_simd.h"
#include "kernels/quant_matmul_simd.h"

namespace quip::kernels {
namespace {

// Per-thread scratch, reused across calls (decode calls this ~60 times per token).
struct Scratch {
  std::vector<float> xp, xsum, group_scale;
  std::vector<int8_t> xq;
};
Scratch& LocalScratch() {
  thread_local Scratch s;
  return s;
}

// Rows per pool task: enough tasks to balance (4 per thread), each big enough that
// handing it out costs nothing next to its work, a multiple of 8 rows.
int RowsPerTask(int rows, int cols, int threads) {
  const int min_rows = std::max(8, (1 << 15) / std::max(1, cols));
  int per = (rows + 4 * threads - 1) / (4 * threads);
  per = std::max(per, min_rows);
  return (per + 7) / 8 * 8;
}

}  // namespace

void QuantMatmul(const PackedMatrixView& w, const float* x, int ntok, float* y) {
  if (ntok <= 0 || w.rows <= 0) return;
  Scratch& s = LocalScratch();
  ThreadPool& pool = ThreadPool::Global();
  const int per_task = RowsPerTask(w.rows, w.cols, pool.threads());
  const int tasks = (w.rows + per_task - 1) / per_task;
  s.xsum.resize(ntok);
  if (ntok == 1 && simd::Q8Supports(w.bits)) {  // decoding: int8 activations
    s.xq.resize(w.cols);
    s.group_scale.resize(Q8Groups(w.cols));
    simd::PrepareQ8(w.bits, x, w.cols, s.xq.data(), s.group_scale.data(), s.xsum.data());
    pool.Run(tasks, [&](int64_t task) {
      const int r0 = int(task) * per_task, r1 = std::min(w.rows, r0 + per_task);
      simd::MatmulRowsQ8(w, s.xq.data(), s.group_scale.data(), s.xsum[0], r0, r1, y);
    });
    return;
  }
  s.xp.resize(size_t(ntok) * w.cols);
  simd::PrepareActivations(w.bits, x, ntok, w.cols, /*prescale=*/true, s.xp.data(), s.xsum.data());
  const float* xp = s.xp.data();
  const float* xsum = s.xsum.data();
  pool.Run(tasks, [&](int64_t task) {
    const int r0 = int(task) * per_task, r1 = std::min(w.rows, r0 + per_task);
    for (int t0 = 0; t0 < ntok; t0 += simd::kMaxTokensPerPass) {
      const int n = std::min(simd::kMaxTokensPerPass, ntok - t0);
      simd::MatmulRows(w, xp + size_t(t0) * w.cols, xsum + t0, n, r0, r1, y + size_t(t0) * w.rows);
    }
  });
}

void QuantGemm(const PackedMatrixView& w, const float* x, int ntok, float* y) {
  if (ntok <= 0 || w.rows <= 0) return;
  Scratch& s = LocalScratch();
  s.xp.resize(size_t(ntok) * w.cols);
  simd::PrepareActivations(w.bits, x, ntok, w.cols, /*prescale=*/false, s.xp.data(), /*xsum=*/nullptr);
  TiledMatmul(s.xp.data(), ntok, w.rows, w.cols, y,
              [&](int r0, int nr, float* tile) { simd::DequantizeRows(w, r0, nr, tile); });
}

const char* KernelTarget() { return simd::TargetName(); }

}  // namespace quip::kernels
