// Golden-section search for the minimum of a unimodal function on [lo, hi]: the scale
// searches of the codebooks (a codebook's MSE on Gaussian data against its scale).
#pragma once

#include <algorithm>
#include <cmath>

namespace quip {

// The argument in [lo, hi] minimising f, to within `tolerance`; f's value there in *value.
template <typename F>
double GoldenSectionMinimize(const F& f, double lo, double hi, double tolerance, double* value = nullptr) {
  const double phi = 0.5 * (std::sqrt(5.0) - 1.0);
  double a = lo, b = hi, c = b - phi * (b - a), d = a + phi * (b - a);
  double fc = f(c), fd = f(d);
  for (int it = 0; it < 60 && b - a > tolerance; ++it) {
    if (fc < fd) {
      b = d, d = c, fd = fc;
      c = b - phi * (b - a);
      fc = f(c);
    } else {
      a = c, c = d, fc = fd;
      d = a + phi * (b - a);
      fd = f(d);
    }
  }
  if (value) *value = std::min(fc, fd);
  return fc < fd ? c : d;
}

}  // namespace quip
