#include "kernels/q8_activations.h"

#include <algorithm>
#include <cmath>

namespace quip::kernels {

void QuantizeQ8(const float* x, int cols, int8_t* xq, float* group_scale) {
  for (int g = 0, c0 = 0; c0 < cols; ++g, c0 += kQ8Group) {
    const int c1 = std::min(cols, c0 + kQ8Group);
    float amax = 0.0f;
    bool finite = true;
    for (int c = c0; c < c1; ++c) {
      finite &= std::isfinite(x[c]);
      amax = std::max(amax, std::abs(x[c]));
    }
    const float inv = finite && amax > 0.0f ? 127.0f / amax : 0.0f;
    group_scale[g] = finite ? amax / 127.0f : NAN;
    for (int c = c0; c < c1; ++c) xq[c] = int8_t(std::clamp(int(std::nearbyint(x[c] * inv)), -127, 127));
  }
}

}  // namespace quip::kernels
