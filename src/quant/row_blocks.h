// Row-parallel work inside one matrix's quantization, for the stages that round one matrix
// alone (o_proj, down_proj) or leave a core idle (q/k/v on two cores): the rows of the
// asymmetric target and of LDLQ are independent problems.
//
// Bit for bit the result of the unsplit call: Eigen's kernels sum each element over the
// inner dimension in an order set by that dimension alone (its k-blocking), and treat a
// row by its position in the 24-row register tiles of the GEMM kernel and the 64-row
// chunks of the matrix-vector kernel (AVX-512 doubles; 4 and 32 with AVX2). Blocks start
// at multiples of kRowBlockAlign, and the tail that is not a whole multiple stays in the
// last block, so every row meets the same code path as before
// (tests/quant/row_blocks_test.cc compares the codes and targets with the unsplit ones).
#pragma once

#include <cstdint>
#include <functional>

namespace quip {

inline constexpr int64_t kRowBlockAlign = 192;  // a multiple of 24 and of 64

// fn(r0, r1) over blocks of [0, rows) covering it, on the thread pool (inline when the pool
// is busy or rows < 2 · kRowBlockAlign). Pool threads' CPU seconds are added to `phase`
// (core/phase_profile.h), whose ScopedPhase times the calling thread.
void ForRowBlocks(int64_t rows, const char* phase, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace quip
