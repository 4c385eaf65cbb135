// Row softmax of attention scores with the causal mask, SIMD (softmax_simd.cc, Highway
// dispatch; exp from hwy/contrib/math, within a few ulp of std::exp):
//   row[p] = exp(row[p] − max) / Σ exp(row[·] − max) for p < visible, 0 for visible ≤ p < n.
// At long contexts this is most of attention's arithmetic outside BLAS (one exp per
// cached position per head per token).
#pragma once

namespace quip::kernels {

void CausalSoftmax(float* row, int visible, int n);

}  // namespace quip::kernels
