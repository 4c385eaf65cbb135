#include "format/hadamard.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <string_view>

#include "core/error.h"
#include "core/tiles.h"
#include "format/seeded_random.h"

namespace quip {
namespace {

// GF(q), q = p or p² (elements a + b·α with α² = r, r a non-residue mod p), elements
// numbered i = a + p·b. Only subtraction and the quadratic character are needed.
struct SmallField {
  int p, e, r;
  int q() const { return e == 1 ? p : p * p; }
  int Sub(int x, int y) const {
    const int a = ((x % p) - (y % p) + p) % p;
    if (e == 1) return a;
    const int b = ((x / p) - (y / p) + p) % p;
    return a + p * b;
  }
  // χ(z): 0 for z = 0, +1 for a nonzero square, −1 otherwise (by listing the squares).
  std::vector<int> Characters() const {
    std::vector<int> chi(q(), -1);
    chi[0] = 0;
    for (int z = 1; z < q(); ++z) {
      const int a = z % p, b = z / p;
      int sq;
      if (e == 1) {
        sq = (a * a) % p;
      } else {
        const int ra = (a * a + r * b * b) % p, rb = (2 * a * b) % p;
        sq = ra + p * rb;
      }
      chi[sq] = 1;
    }
    return chi;
  }
};

// Jacobsthal matrix Q(i, j) = χ(x_j − x_i).
Eigen::MatrixXi Jacobsthal(const SmallField& f) {
  const int q = f.q();
  const std::vector<int> chi = f.Characters();
  Eigen::MatrixXi m(q, q);
  for (int i = 0; i < q; ++i)
    for (int j = 0; j < q; ++j) m(i, j) = chi[f.Sub(j, i)];
  return m;
}

// Paley I, q ≡ 3 (mod 4): H = I + [[0, 1ᵀ], [−1, Q]], order q + 1.
Eigen::MatrixXi PaleyI(const SmallField& f) {
  const int q = f.q();
  QUIP_ASSERT(q % 4 == 3);
  const Eigen::MatrixXi jac = Jacobsthal(f);
  Eigen::MatrixXi h = Eigen::MatrixXi::Identity(q + 1, q + 1);
  for (int j = 1; j <= q; ++j) {
    h(0, j) += 1;
    h(j, 0) -= 1;
  }
  h.bottomRightCorner(q, q) += jac;
  return h;
}

// Paley II, q ≡ 1 (mod 4): C = [[0, 1ᵀ], [1, Q]], H = C ⊗ [[1,1],[1,−1]] + I ⊗ [[1,−1],[−1,−1]],
// order 2(q + 1).
Eigen::MatrixXi PaleyII(const SmallField& f) {
  const int q = f.q();
  QUIP_ASSERT(q % 4 == 1);
  const Eigen::MatrixXi jac = Jacobsthal(f);
  Eigen::MatrixXi c = Eigen::MatrixXi::Zero(q + 1, q + 1);
  for (int j = 1; j <= q; ++j) c(0, j) = c(j, 0) = 1;
  c.bottomRightCorner(q, q) = jac;
  const int n = 2 * (q + 1);
  Eigen::MatrixXi h(n, n);
  for (int i = 0; i < q + 1; ++i)
    for (int j = 0; j < q + 1; ++j) {
      if (i == j) {
        h(2 * i, 2 * j) = 1, h(2 * i, 2 * j + 1) = -1;
        h(2 * i + 1, 2 * j) = -1, h(2 * i + 1, 2 * j + 1) = -1;
      } else {
        const int v = c(i, j);
        h(2 * i, 2 * j) = v, h(2 * i, 2 * j + 1) = v;
        h(2 * i + 1, 2 * j) = v, h(2 * i + 1, 2 * j + 1) = -v;
      }
    }
  return h;
}

// Williamson array of four symmetric circulants given by their first rows.
Eigen::MatrixXi Williamson(const std::array<std::string_view, 4>& rows) {
  const int t = static_cast<int>(rows[0].size());
  std::array<Eigen::MatrixXi, 4> blk;
  for (int b = 0; b < 4; ++b) {
    QUIP_ASSERT(static_cast<int>(rows[b].size()) == t);
    blk[b].resize(t, t);
    for (int i = 0; i < t; ++i)
      for (int j = 0; j < t; ++j) blk[b](i, j) = rows[b][(j - i + t) % t] == '+' ? 1 : -1;
  }
  // [[A, B, C, D], [−B, A, −D, C], [−C, D, A, −B], [−D, −C, B, A]]
  static constexpr int kWhich[4][4] = {{0, 1, 2, 3}, {1, 0, 3, 2}, {2, 3, 0, 1}, {3, 2, 1, 0}};
  static constexpr int kSign[4][4] = {{1, 1, 1, 1}, {-1, 1, -1, 1}, {-1, 1, 1, -1}, {-1, -1, 1, 1}};
  Eigen::MatrixXi h(4 * t, 4 * t);
  for (int bi = 0; bi < 4; ++bi)
    for (int bj = 0; bj < 4; ++bj) h.block(bi * t, bj * t, t, t) = kSign[bi][bj] * blk[kWhich[bi][bj]];
  return h;
}

// First rows of symmetric circulant Williamson matrices of orders 39 and 43 (Sloane's
// library, had.156.will and had.172.will).
constexpr std::array<std::string_view, 4> kWilliamson39 = {
    "+++--+-+-----+--++----++--+-----+-+--++",
    "++++---+--++----+-+--+-+----++--+---+++",
    "+++--++-+---+-+--+----+--+-+---+-++--++",
    "+---++-+-+-----+++-++-+++-----+-+-++---",
};
constexpr std::array<std::string_view, 4> kWilliamson43 = {
    "+---++--++++-+-+++-++--++-+++-+-++++--++---",
    "++-++++++----+-+--++-++-++--+-+----++++++-+",
    "+++-+-++--+-+-++++-+----+-++++-+-+--++-+-++",
    "++---++++-+--+--++--------++--+--+-++++---+",
};

Eigen::MatrixXi Build(int k) {
  switch (k) {
    case 12: return PaleyI({11, 1, 0});
    case 20: return PaleyI({19, 1, 0});
    case 28: return PaleyII({13, 1, 0});
    case 36: return PaleyII({17, 1, 0});
    case 44: return PaleyI({43, 1, 0});
    case 52: return PaleyII({5, 2, 2});  // GF(25) = GF(5)[α], α² = 2
    case 60: return PaleyI({59, 1, 0});
    case 108: return PaleyI({107, 1, 0});
    case 140: return PaleyI({139, 1, 0});
    case 156: return Williamson(kWilliamson39);
    case 172: return Williamson(kWilliamson43);
    default: break;
  }
  QUIP_CHECK_INPUT(k > 0 && (k & (k - 1)) == 0, "Hadamard", "no Hadamard matrix of order {} is built", k);
  Eigen::MatrixXi h(k, k);
  for (int i = 0; i < k; ++i)
    for (int j = 0; j < k; ++j) h(i, j) = (__builtin_popcount(unsigned(i & j)) & 1) ? -1 : 1;
  return h;
}

template <typename T>
void Fwht(T* x, int m) {
  for (int h = 1; h < m; h *= 2)
    for (int i = 0; i < m; i += 2 * h) {
      T* a = x + i;
      T* b = x + i + h;
      for (int j = 0; j < h; ++j) {
        const T u = a[j], v = b[j];
        a[j] = u + v;
        b[j] = u - v;
      }
    }
}

}  // namespace

const std::vector<int>& HadamardBaseOrders() {
  static const std::vector<int> kOrders = {12, 20, 28, 36, 44, 52, 60, 108, 140, 156, 172};
  return kOrders;
}

Eigen::MatrixXi HadamardMatrix(int k) {
  static std::mutex mu;
  static std::map<int, Eigen::MatrixXi> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(k);
  if (it == cache.end()) it = cache.emplace(k, Build(k)).first;
  return it->second;
}

std::string SupportedHadamardOrdersText() {
  std::string text = "1";
  for (int k : HadamardBaseOrders()) text += ", " + std::to_string(k);
  return text;
}

int HadamardBaseOrder(int n) {
  if (n <= 0) return 0;
  int odd = n;
  while (odd % 2 == 0) odd /= 2;
  if (odd == 1) return 1;
  for (int k : HadamardBaseOrders()) {
    int ko = k;
    while (ko % 2 == 0) ko /= 2;
    if (ko == odd) return n >= k ? k : 0;  // n/k is then a power of two
  }
  return 0;
}

void FastWalshHadamard(float* x, int m) { Fwht(x, m); }
void FastWalshHadamard(double* x, int m) { Fwht(x, m); }

HadamardTransform::HadamardTransform(int n, uint64_t seed) : n_(n), seed_(seed) {
  k_ = HadamardBaseOrder(n);
  QUIP_CHECK_INPUT(k_ > 0, "HadamardTransform", "dimension {} is not K·2^k for a supported Hadamard order K ({})", n,
                   SupportedHadamardOrdersText());
  m_ = n / k_;
  SeededRandom rng(MixSeed(seed));
  signs_.resize(n);
  for (int i = 0; i < n; ++i) signs_[i] = (rng.Bits() >> 63) ? int8_t{-1} : int8_t{1};
  if (k_ > 1) {
    const Eigen::MatrixXi h = HadamardMatrix(k_);
    hk_d_ = h.cast<double>();
    hk_f_ = h.cast<float>();
  }
}

template <typename T>
void HadamardTransform::Run(T* x, int64_t ntok, bool transposed) const {
  using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const RowMat* hk = nullptr;
  if constexpr (std::is_same_v<T, float>) {
    hk = &hk_f_;
  } else {
    hk = &hk_d_;
  }
  const T inv = T(1) / std::sqrt(T(n_));
  RowMat tmp;
  if (k_ > 1) tmp.resize(k_, m_);
  for (int64_t t = 0; t < ntok; ++t) {
    T* row = x + t * n_;
    if (!transposed)
      for (int i = 0; i < n_; ++i) row[i] = signs_[i] < 0 ? -row[i] : row[i];
    for (int a = 0; a < k_; ++a) Fwht(row + int64_t(a) * m_, m_);
    if (k_ > 1) {
      Eigen::Map<RowMat> xm(row, k_, m_);
      if (!transposed) {
        tmp.noalias() = *hk * xm;
      } else {
        tmp.noalias() = hk->transpose() * xm;
      }
      xm = tmp;
    }
    if (!transposed) {
      for (int i = 0; i < n_; ++i) row[i] *= inv;
    } else {
      for (int i = 0; i < n_; ++i) row[i] = signs_[i] < 0 ? -(row[i] * inv) : row[i] * inv;
    }
  }
}

void HadamardTransform::Apply(float* x, int64_t ntok) const { Run(x, ntok, false); }
void HadamardTransform::ApplyTransposed(float* x, int64_t ntok) const { Run(x, ntok, true); }
void HadamardTransform::Apply(double* x, int64_t ntok) const { Run(x, ntok, false); }
void HadamardTransform::ApplyTransposed(double* x, int64_t ntok) const { Run(x, ntok, true); }

Eigen::MatrixXd HadamardTransform::LeftMultiply(const Eigen::MatrixXd& m) const {
  QUIP_ASSERT(m.rows() == n_);
  Eigen::MatrixXd r = m;
  Apply(r.data(), r.cols());
  return r;
}

Eigen::MatrixXd HadamardTransform::LeftMultiplyTransposed(const Eigen::MatrixXd& m) const {
  QUIP_ASSERT(m.rows() == n_);
  Eigen::MatrixXd r = m;
  ApplyTransposed(r.data(), r.cols());
  return r;
}

Eigen::MatrixXd HadamardTransform::RightMultiply(const Eigen::MatrixXd& m) const {
  QUIP_ASSERT(m.cols() == n_);
  Eigen::MatrixXd r = TransposedByTiles(m);
  ApplyTransposed(r.data(), r.cols());
  return TransposedByTiles(r);
}

Eigen::MatrixXd HadamardTransform::RightMultiplyTransposed(const Eigen::MatrixXd& m) const {
  QUIP_ASSERT(m.cols() == n_);
  Eigen::MatrixXd r = TransposedByTiles(m);
  Apply(r.data(), r.cols());
  return TransposedByTiles(r);
}

Eigen::MatrixXd HadamardTransform::Dense() const {
  // (H_K ⊗ H_m)(a·m + b, c·m + d) = H_K(a, c)·H_m(b, d), times s_{c·m+d}, over √n.
  const Eigen::MatrixXi hk = HadamardMatrix(k_), hm = HadamardMatrix(m_);
  const double inv = 1.0 / std::sqrt(double(n_));
  Eigen::MatrixXd q(n_, n_);
  for (int a = 0; a < k_; ++a)
    for (int b = 0; b < m_; ++b)
      for (int c = 0; c < k_; ++c)
        for (int d = 0; d < m_; ++d)
          q(a * m_ + b, c * m_ + d) = hk(a, c) * hm(b, d) * signs_[c * m_ + d] * inv;
  return q;
}

}  // namespace quip
