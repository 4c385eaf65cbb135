#include "format/e8p.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "core/error.h"
#include "format/seeded_random.h"

namespace quip::e8p {
namespace {

// The 29 norm-12 patterns (2a: five 3s, three 1s), QuIP#'s list in its order: quip-sharp
// commit 79b752f, lib/codebook/latticee8_padded12.py, get_norm12() (tests/format/e8p_test.cc
// pins these rows and a hash of the whole table). By the positions of the three 1s: three
// of {0..3} (rows 0-3); one i of {0..3} and two of {4..7} for i = 3, 2 (rows 4-15), i = 1
// without {4,5} (16-20), i = 0 ({4,5} first, 21-26); then {0,1,4} and {2,3,7}. Earlier
// quip-sharp versions listed (1,3,3,3,1,1,3,3) twice; row 27 is the fix.
constexpr int8_t kNorm12[29][kDim] = {
    {3, 1, 1, 1, 3, 3, 3, 3}, {1, 3, 1, 1, 3, 3, 3, 3}, {1, 1, 3, 1, 3, 3, 3, 3}, {1, 1, 1, 3, 3, 3, 3, 3},
    {3, 3, 3, 1, 3, 3, 1, 1}, {3, 3, 3, 1, 3, 1, 3, 1}, {3, 3, 3, 1, 1, 3, 3, 1}, {3, 3, 3, 1, 3, 1, 1, 3},
    {3, 3, 3, 1, 1, 3, 1, 3}, {3, 3, 3, 1, 1, 1, 3, 3}, {3, 3, 1, 3, 3, 3, 1, 1}, {3, 3, 1, 3, 3, 1, 3, 1},
    {3, 3, 1, 3, 1, 3, 3, 1}, {3, 3, 1, 3, 3, 1, 1, 3}, {3, 3, 1, 3, 1, 3, 1, 3}, {3, 3, 1, 3, 1, 1, 3, 3},
    {3, 1, 3, 3, 3, 3, 1, 1}, {3, 1, 3, 3, 3, 1, 3, 1}, {3, 1, 3, 3, 1, 3, 3, 1}, {3, 1, 3, 3, 3, 1, 1, 3},
    {3, 1, 3, 3, 1, 3, 1, 3}, {1, 3, 3, 3, 1, 1, 3, 3}, {1, 3, 3, 3, 3, 3, 1, 1}, {1, 3, 3, 3, 3, 1, 3, 1},
    {1, 3, 3, 3, 1, 3, 3, 1}, {1, 3, 3, 3, 3, 1, 1, 3}, {1, 3, 3, 3, 1, 3, 1, 3}, {1, 1, 3, 3, 1, 3, 3, 3},
    {3, 3, 1, 1, 3, 3, 3, 1},
};

using Table = std::array<std::array<int8_t, kDim>, kTableSize>;

Table BuildTable() {
  Table t{};
  int count = 0;
  std::array<int8_t, kDim> v{};
  // Lexicographic over 2a ∈ {1, 3, 5}^8 (coordinate 0 most significant); keep ‖a‖² ≤ 10.
  for (int code = 0; code < 6561; ++code) {
    int c = code, norm4 = 0;
    for (int i = kDim - 1; i >= 0; --i) {
      v[i] = int8_t(1 + 2 * (c % 3));
      c /= 3;
    }
    for (int i = 0; i < kDim; ++i) norm4 += v[i] * v[i];
    if (norm4 <= 40) {
      QUIP_ASSERT(count < 227);
      t[count++] = v;
    }
  }
  QUIP_ASSERT(count == 227);
  for (const auto& row : kNorm12) {
    for (int i = 0; i < kDim; ++i) v[i] = row[i];
    t[count++] = v;
  }
  QUIP_ASSERT(count == kTableSize);
  return t;
}

// Column-major doubles for the search loop (vectorises over the 256 entries).
struct SearchTable {
  alignas(64) double a[kDim][kTableSize];
  alignas(64) double norm2[kTableSize];
  alignas(64) double parity[kTableSize];  // Σ a_i mod 2 (0 or 1)
  // a_i as 0, 1, 2 for ½, 3/2, 5/2, and how many leading entries row p shares with row p − 1
  // (0 for p = 0): NearestBatch keeps the partial sums of those and adds the rest only.
  uint8_t level[kTableSize][kDim];
  uint8_t shared_prefix[kTableSize];
  std::map<std::array<int8_t, kDim>, int> index;
};

const SearchTable& Search() {
  static const SearchTable st = [] {
    SearchTable s{};
    const Table& t = AbsTable();
    for (int p = 0; p < kTableSize; ++p) {
      int sum2 = 0;
      double n2 = 0;
      for (int i = 0; i < kDim; ++i) {
        s.a[i][p] = 0.5 * t[p][i];
        n2 += s.a[i][p] * s.a[i][p];
        sum2 += t[p][i];
      }
      s.norm2[p] = n2;
      s.parity[p] = (sum2 / 2) & 1;
      s.index[t[p]] = p;
      for (int i = 0; i < kDim; ++i) s.level[p][i] = uint8_t(t[p][i] / 2);
      int shared = 0;
      while (p > 0 && shared < kDim - 1 && t[p][shared] == t[p - 1][shared]) ++shared;
      s.shared_prefix[p] = uint8_t(shared);
    }
    return s;
  }();
  return st;
}

template <typename T>
void DecodeT(uint16_t idx, T* out) {
  const Table& t = AbsTable();
  const auto& a = t[idx >> 8];
  const int signs7 = (idx >> 1) & 0x7F;
  const int sum2 = a[0] + a[1] + a[2] + a[3] + a[4] + a[5] + a[6] + a[7];
  const int neg7 = (__builtin_popcount(unsigned(signs7)) + sum2 / 2) & 1;
  const T shift = (idx & 1) ? T(0.25) : T(-0.25);
  for (int i = 0; i < 7; ++i) out[i] = ((signs7 >> i) & 1 ? -T(0.5) : T(0.5)) * T(a[i]) + shift;
  out[7] = (neg7 ? -T(0.5) : T(0.5)) * T(a[7]) + shift;
}

}  // namespace

const Table& AbsTable() {
  static const Table t = BuildTable();
  return t;
}

void Decode(uint16_t idx, double* out) { DecodeT(idx, out); }
void Decode(uint16_t idx, float* out) { DecodeT(idx, out); }

bool Encode(const double* point, uint16_t* idx) {
  const SearchTable& s = Search();
  for (int shift_bit = 0; shift_bit < 2; ++shift_bit) {
    const double t = shift_bit ? 0.25 : -0.25;
    std::array<int8_t, kDim> a{};
    int neg = 0, sum2 = 0;
    bool ok = true;
    for (int i = 0; i < kDim && ok; ++i) {
      const double y2 = 2.0 * (point[i] - t);  // must be an odd integer
      const double r = std::nearbyint(y2);
      if (r != y2 || std::fmod(std::fabs(r), 2.0) != 1.0 || std::fabs(r) > 7) {
        ok = false;
        break;
      }
      a[i] = int8_t(std::fabs(r));
      if (r < 0) neg |= 1 << i;
      sum2 += int(r);
    }
    if (!ok || (sum2 / 2) % 2 != 0) continue;  // Σy must be even (sum2 = 2Σy, Σy integer)
    const auto it = s.index.find(a);
    if (it == s.index.end()) return false;
    *idx = uint16_t((it->second << 8) | ((neg & 0x7F) << 1) | shift_bit);
    return true;
  }
  return false;
}

namespace {

// Eight input vectors side by side, one per lane (GCC/Clang vector extensions: one AVX-512
// register with -march=native, smaller registers elsewhere; the same lane arithmetic).
constexpr int kLanes = 8;
using Lanes = double __attribute__((vector_size(kLanes * sizeof(double))));

// Up to kLanes vectors. For each shift t (−¼, then +¼), z = x − t𝟙, and each candidate's
// cost ‖z‖² + ‖a‖² − 2Σ|z_i|a_i (+ 4·min_i |z_i|a_i when the signs of z have the wrong
// parity) in exactly the scalar expression and order: Σ left to right, so the partial sums
// over the entries a row shares with the previous table row are kept, not recomputed
// (727 additions per shift instead of 2048; the products |z_i|·a_i are the three of each
// coordinate). The least cost with a strict "<" scan in search order (shift −¼ before +¼,
// table order) keeps the first of tied candidates.
void NearestLanes(const double* x, int count, uint16_t* idx) {
  const SearchTable& s = Search();
  double az_of[2][kLanes][kDim];
  int negmask_of[2][kLanes];
  Lanes best, best_code;  // best cost, and its candidate as shift·256 + p
  for (int l = 0; l < kLanes; ++l) best[l] = std::numeric_limits<double>::infinity(), best_code[l] = 0;
  for (int shift_bit = 0; shift_bit < 2; ++shift_bit) {
    const double t = shift_bit ? 0.25 : -0.25;
    Lanes zz, negpar, prod[kDim][3];
    for (int l = 0; l < kLanes; ++l) {
      const double* xl = x + kDim * std::min(l, count - 1);  // idle lanes repeat the last vector
      double* az = az_of[shift_bit][l];
      double sum = 0.0;
      int negmask = 0;
      for (int i = 0; i < kDim; ++i) {
        const double z = xl[i] - t;
        az[i] = std::fabs(z);
        if (z < 0) negmask |= 1 << i;
        sum += z * z;
      }
      negmask_of[shift_bit][l] = negmask;
      zz[l] = sum;
      negpar[l] = __builtin_popcount(unsigned(negmask)) & 1;
      for (int i = 0; i < kDim; ++i)
        for (int k = 0; k < 3; ++k) prod[i][k][l] = az[i] * (0.5 + k);
    }
    // Partial sums and minima over entries 0..i in registers; a row enters at its first
    // entry that differs from the previous row's (switch fall-through).
    Lanes d0{}, d1{}, d2{}, d3{}, d4{}, d5{}, d6{}, d7{}, m0{}, m1{}, m2{}, m3{}, m4{}, m5{}, m6{}, m7{};  // row 0 sets all (its shared prefix is 0); {} quiets GCC
    for (int p = 0; p < kTableSize; ++p) {
      const uint8_t* level = s.level[p];
#define QUIP_E8P_ENTRY(i, prev_d, prev_m)         \
  {                                             \
    const Lanes v = prod[i][level[i]];          \
    d##i = prev_d + v;                          \
    m##i = v < prev_m ? v : prev_m;             \
  }                                             \
  [[fallthrough]]
      switch (s.shared_prefix[p]) {
        case 0:
          d0 = m0 = prod[0][level[0]];
          [[fallthrough]];
        case 1: QUIP_E8P_ENTRY(1, d0, m0);
        case 2: QUIP_E8P_ENTRY(2, d1, m1);
        case 3: QUIP_E8P_ENTRY(3, d2, m2);
        case 4: QUIP_E8P_ENTRY(4, d3, m3);
        case 5: QUIP_E8P_ENTRY(5, d4, m4);
        case 6: QUIP_E8P_ENTRY(6, d5, m5);
        default: QUIP_E8P_ENTRY(7, d6, m6);
      }
#undef QUIP_E8P_ENTRY
      const Lanes dot = d7, mn = m7;
      const Lanes flip = negpar != s.parity[p] ? 4.0 * mn : Lanes{};
      const Lanes cost = zz + s.norm2[p] - 2.0 * dot + flip;
      const auto better = cost < best;
      best = better ? cost : best;
      best_code = better ? Lanes{} + double(shift_bit * kTableSize + p) : best_code;
    }
  }
  for (int l = 0; l < count; ++l) {
    // No finite cost (a NaN or infinite x): entry 0, unsigned, as the first scan returned.
    const bool found = best[l] < std::numeric_limits<double>::infinity();
    const int code = int(best_code[l]);
    const int best_p = code % kTableSize, best_shift = code / kTableSize;
    const double* best_az = az_of[best_shift][l];
    int negmask = found ? negmask_of[best_shift][l] : 0;
    if ((__builtin_popcount(unsigned(negmask)) & 1) != int(s.parity[best_p])) {
      int flip = 0;
      for (int i = 1; i < kDim; ++i)
        if (best_az[i] * s.a[i][best_p] < best_az[flip] * s.a[flip][best_p]) flip = i;
      negmask ^= 1 << flip;
    }
    idx[l] = uint16_t((best_p << 8) | ((negmask & 0x7F) << 1) | best_shift);
  }
}

}  // namespace

void NearestBatch(const double* x, int64_t count, uint16_t* idx) {
  for (int64_t v = 0; v < count; v += kLanes) NearestLanes(x + kDim * v, int(std::min<int64_t>(kLanes, count - v)), idx + v);
}

uint16_t Nearest(const double* x, double* out) {
  uint16_t idx;
  NearestBatch(x, 1, &idx);
  if (out) Decode(idx, out);
  return idx;
}

std::vector<std::array<double, kDim>> EnumerateDirect() {
  // The norm-12 patterns as sets of positions of their ½ entries.
  std::vector<int> norm12_masks;
  for (const auto& row : kNorm12) {
    int m = 0;
    for (int i = 0; i < kDim; ++i)
      if (row[i] == 1) m |= 1 << i;
    norm12_masks.push_back(m);
  }
  std::vector<std::array<double, kDim>> pts;
  pts.reserve(kNumPoints);
  // 2y ∈ {−5, −3, −1, 1, 3, 5}^8 covers both parts (norm ≤ 10 needs |2y_i| ≤ 5).
  static constexpr int kVals[6] = {-5, -3, -1, 1, 3, 5};
  int y2[kDim];
  for (int code = 0; code < 1679616; ++code) {  // 6^8
    int c = code, sum = 0, norm4 = 0, halfmask = 0;
    bool all_1_3 = true;
    for (int i = kDim - 1; i >= 0; --i) {
      y2[i] = kVals[c % 6];
      c /= 6;
    }
    for (int i = 0; i < kDim; ++i) {
      sum += y2[i];
      norm4 += y2[i] * y2[i];
      if (std::abs(y2[i]) == 1) halfmask |= 1 << i;
      if (std::abs(y2[i]) == 5) all_1_3 = false;
    }
    if (sum % 4 != 0) continue;  // Σy = sum/2 must be even
    bool in = norm4 <= 40;
    if (!in && norm4 == 48 && all_1_3)
      in = std::find(norm12_masks.begin(), norm12_masks.end(), halfmask) != norm12_masks.end();
    if (!in) continue;
    for (double t : {-0.25, 0.25}) {
      std::array<double, kDim> p;
      for (int i = 0; i < kDim; ++i) p[i] = 0.5 * y2[i] + t;
      pts.push_back(p);
    }
  }
  std::sort(pts.begin(), pts.end());
  return pts;
}

double GaussianMse(double scale, int nvec, uint64_t seed) {
  SeededRandom rng(MixSeed(seed));
  double x[kDim], q[kDim], y[kDim], err = 0.0;
  for (int v = 0; v < nvec; ++v) {
    for (int i = 0; i < kDim; ++i) {
      x[i] = rng.Gaussian();
      y[i] = x[i] / scale;
    }
    Nearest(y, q);
    for (int i = 0; i < kDim; ++i) {
      const double d = x[i] - scale * q[i];
      err += d * d;
    }
  }
  return err / (double(nvec) * kDim);
}

}  // namespace quip::e8p
