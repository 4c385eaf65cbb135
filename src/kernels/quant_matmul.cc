// Threading and BLAS glue around the SIMD kernels; no SIMD here.
#include "kernels/quant_matmul.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/quant_matmul_simd.h"

namespace quip::kernels {
namespace {

// Per-thread scratch, reused across calls (decode calls this ~60 times per token).
struct Scratch {
  std::vector<float> xp, xsum, tile;
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
  s.xp.resize(size_t(ntok) * w.cols);
  s.xsum.resize(ntok);
  simd::PrepareActivations(w.bits, x, ntok, w.cols, /*prescale=*/true, s.xp.data(), s.xsum.data());
  ThreadPool& pool = ThreadPool::Global();
  const int per_task = RowsPerTask(w.rows, w.cols, pool.threads());
  const int tasks = (w.rows + per_task - 1) / per_task;
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
  // Tiles of ~1 MiB of fp32 weights: dequantized into L2, consumed by sgemm from there.
  const int tile_rows = std::clamp((1 << 18) / std::max(1, w.cols), 16, std::max(16, w.rows));
  s.tile.resize(size_t(std::min(tile_rows, w.rows)) * w.cols);
  for (int r0 = 0; r0 < w.rows; r0 += tile_rows) {
    const int nr = std::min(tile_rows, w.rows - r0);
    simd::DequantizeRows(w, r0, nr, s.tile.data());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ntok, nr, w.cols, 1.0f, s.xp.data(), w.cols, s.tile.data(),
                w.cols, 0.0f, y + r0, w.rows);
  }
}

const char* KernelTarget() { return simd::TargetName(); }

}  // namespace quip::kernels
