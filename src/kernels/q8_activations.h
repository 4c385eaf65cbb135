// Int8 rounding of activations for the integer kernels (q8_matmul_simd.h for the scalar
// grid, e8p_matvec.h for E8P), one definition for both:
//   per group g of kQ8Group consecutive columns, a_g = max_{c∈g} |x_c| / 127 and
//   xq_c = round_to_even(x_c · (127 / max_{c∈g} |x_c|)) ∈ [−127, 127],
// so x ≈ a_g·xq_c within half a step. A group with a non-finite value gets a_g = NaN
// (and xq = 0), so every output it feeds is NaN rather than a finite wrong number.
// The tests' oracle, DequantizedQ8Activations (matmul_reference.h), computes the same
// definition in double.
#pragma once

#include <cstdint>

namespace quip::kernels {

constexpr int kQ8Group = 256;
constexpr int Q8Groups(int cols) { return (cols + kQ8Group - 1) / kQ8Group; }

// x [cols] → xq [cols] (natural order) and group_scale [Q8Groups(cols)].
void QuantizeQ8(const float* x, int cols, int8_t* xq, float* group_scale);

}  // namespace quip::kernels
