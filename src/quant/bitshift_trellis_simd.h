// The per-step arithmetic of the trellis search (bitshift_trellis.cc), in SIMD with
// Highway's dynamic dispatch: for every state s,
//     out[s] = base[s >> kv] + Σ_k (value_k[s] − x_k)²      (k < V ≤ 2)
// where base holds each prefix's best predecessor cost. Multiplies and adds are separate
// (no FMA), so every CPU target gives the scalar code's bits.
#pragma once

#include <cstdint>

namespace quip::trellis::simd {

// values[k]: value k of every state (2^L floats); fan = 2^kv; out has fan·num_prefixes floats.
void AddErrors(const float* const* values, int v, const float* x, const float* base, uint32_t num_prefixes,
               uint32_t fan, float* out);

}  // namespace quip::trellis::simd
