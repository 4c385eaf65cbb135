#include "kernels/dense_matmul.h"

#include <cblas.h>

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "core/thread_pool.h"

namespace quip::kernels {
namespace {

// Rows per task: about 4 tasks per thread to balance, each at least ~64 KiB of weights
// so handing it out costs nothing next to its work; a multiple of 16 rows.
int RowsPerTask(int rows, int cols, int max_rows) {
  const int threads = ThreadPool::Global().threads();
  const int min_rows = std::max(16, (1 << 14) / std::max(1, cols));
  int per = (rows + 4 * threads - 1) / (4 * threads);
  per = std::min(std::max(per, min_rows), max_rows);
  return std::max(1, (per + 15) / 16 * 16);
}

}  // namespace

void DenseMatmul(const float* x, int ntok, const float* w, int rows, int cols, float* y) {
  if (ntok <= 0 || rows <= 0) return;
  UseSingleThreadedBlas();
  const int per = RowsPerTask(rows, cols, rows);
  const int tasks = (rows + per - 1) / per;
  ThreadPool::Global().Run(tasks, [&](int64_t task) {
    const int r0 = int(task) * per, nr = std::min(per, rows - r0);
    if (ntok == 1) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, nr, cols, 1.0f, w + size_t(r0) * cols, cols, x, 1, 0.0f, y + r0, 1);
    } else {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ntok, nr, cols, 1.0f, x, cols, w + size_t(r0) * cols, cols,
                  0.0f, y + r0, rows);
    }
  });
}

void TiledMatmul(const float* x, int ntok, int rows, int cols, float* y, const TileFill& fill) {
  if (ntok <= 0 || rows <= 0) return;
  UseSingleThreadedBlas();
  const int max_tile_rows = std::max(16, (1 << 19) / std::max(1, cols));  // 2 MiB of fp32
  const int per = RowsPerTask(rows, cols, max_tile_rows);
  const int tasks = (rows + per - 1) / per;
  ThreadPool::Global().Run(tasks, [&](int64_t task) {
    thread_local std::vector<float> tile;
    const int r0 = int(task) * per, nr = std::min(per, rows - r0);
    tile.resize(size_t(nr) * cols);
    fill(r0, nr, tile.data());
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ntok, nr, cols, 1.0f, x, cols, tile.data(), cols, 0.0f,
                y + r0, rows);
  });
}

void ParallelTasks(int n, const std::function<void(int)>& fn) {
  UseSingleThreadedBlas();
  ThreadPool::Global().Run(n, [&](int64_t i) { fn(int(i)); });
}

}  // namespace quip::kernels
