// Dense fp32 products on the project's one thread pool (core/thread_pool.h), with
// OpenBLAS itself kept single-threaded.
//
// Why not OpenBLAS's threads: after a call its worker threads spin, waiting for the
// next one. On a machine with as many busy threads as cores they then hold the core
// that our pool's worker needs for the next quantized matvec, and every matvec waits
// for a descheduled thread: measured on 2 cores, decoding a quantized model ran 4-8x
// slower in some runs (bench/kernel_bench, books-llama-5m). With all parallel work on
// one pool nothing competes, and the dequantization of tiles runs in parallel too.
#pragma once

#include <functional>

namespace quip::kernels {

// y[t·rows + r] = Σ_c x[t·cols + c] · w[r·cols + c]  (Y = X Wᵀ), rows split over the pool.
void DenseMatmul(const float* x, int ntok, const float* w, int rows, int cols, float* y);

// The same product for a W that exists only as a generator: fill(r0, nr, tile) writes
// rows [r0, r0 + nr) of W as fp32 into `tile` (nr·cols floats, a per-thread buffer of
// up to 2 MiB). Tiles run on the pool, so `fill` must be safe to call concurrently for
// different rows. Why 2 MiB and not an L2-sized tile: sgemm repacks the activations for
// every tile, and with 512 KiB tiles that cost showed (prompt evaluation of the
// synthetic 2-bit model: 0.78x fp32 speed with 512 KiB tiles, 0.83x with 2 MiB).
using TileFill = std::function<void(int r0, int nr, float* tile)>;
void TiledMatmul(const float* x, int ntok, int rows, int cols, float* y, const TileFill& fill);

// Runs fn(i) for i in [0, n) on the pool: for per-head attention and the like.
void ParallelTasks(int n, const std::function<void(int)>& fn);

}  // namespace quip::kernels
