#include "format/seeded_random.h"

#include <cmath>

#include "core/error.h"

namespace quip {

uint64_t MixSeed(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

double SeededRandom::Uniform() { return double(rng_() >> 11) * 0x1.0p-53; }

uint64_t SeededRandom::Below(uint64_t n) {
  QUIP_ASSERT(n > 0);
  return uint64_t((unsigned __int128)rng_() * n >> 64);
}

double SeededRandom::Gaussian() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u, v, s;
  do {
    u = 2.0 * Uniform() - 1.0;
    v = 2.0 * Uniform() - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  // sqrt is correctly rounded by IEEE 754, so only the log needed replacing.
  const double f = std::sqrt(-2.0 * PortableLog(s) / s);
  spare_ = v * f;
  has_spare_ = true;
  return u * f;
}

double PortableLog(double x) {
  QUIP_ASSERT(x > 0.0 && std::isfinite(x));
  int e = 0;
  double m = std::frexp(x, &e);  // exact: x = m * 2^e, m in [0.5, 1)
  if (m < 0.70710678118654752440) {
    m *= 2.0;
    e -= 1;
  }
  // log(m) = 2 atanh(t), t = (m-1)/(m+1), |t| <= 0.1716: 13 odd terms reach 1e-21.
  const double t = (m - 1.0) / (m + 1.0);
  const double t2 = t * t;
  double term = t, sum = 0.0;
  for (int k = 1; k <= 25; k += 2) {
    sum += term / k;
    term *= t2;
  }
  constexpr double kLn2 = 0.693147180559945309417232121458;
  return e * kLn2 + 2.0 * sum;
}

}  // namespace quip
