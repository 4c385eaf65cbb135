// The E8P codebook of QuIP# (seed 003; docs/e8p.md): 2^16 points in R^8, i.e. 16 bits
// per 8 weights = 2 bits per weight, all in the shifted lattice E8 + ¼·𝟙.
//
// Math. D̂8 = {y ∈ (Z + ½)^8 : Σ y_i even} (so E8 = D8 ∪ D̂8). A point is
//     c = y + t·𝟙,   y ∈ D̂8 with |y| (entrywise) in a 256-entry table T,   t = ±¼.
// The table T of absolute-value patterns a ∈ {½, 3/2, 5/2}^8:
//   entries 0..226: the 227 patterns a with ‖a‖² ≤ 10 (every a ∈ (N + ½)^8 in the ball;
//                   each has even-sum signings), in lexicographic order of 2a;
//   entries 227..255: 29 patterns with five 3/2 and three ½ (‖a‖² = 12), QuIP#'s list in
//                   its order (quip-sharp 79b752f; e8p.cc).
// This is QuIP#'s table and point set; the index layout below is ours (docs/e8p.md).
// Since no a_i is 0, the 2^8 signings of a are distinct, and flipping one sign changes
// Σy by the odd integer 2a_i: exactly 2^7 signings have Σy even. So 256·2^7·2 = 2^16
// points, all distinct (y + ¼ = y' − ¼ is impossible: y' − y would be ½𝟙 ∉ Z^8).
// Both shifts lie in E8 + ¼𝟙: y + ¼𝟙 with y ∈ D̂8 ⊂ E8, and y − ¼𝟙 = (y − ½𝟙) + ¼𝟙
// with y − ½𝟙 ∈ Z^8 of even sum (Σy − 4), i.e. in D8 ⊂ E8.
//
// Index layout (16 bits, frozen: it is what quantized files store):
//   bits 15..8  table entry p (0..255)
//   bits  7..1  sign bits of coordinates 0..6 (bit 1 + i set ⇔ y_i < 0)
//   bit   0     shift: 1 ⇔ t = +¼, 0 ⇔ t = −¼
// The sign of coordinate 7 is implied: y_7 < 0 ⇔ popcount(bits 7..1) + Σ_i a_i is odd
// (so that Σy is even; Σ a_i is an integer since 2a_i are eight odd numbers).
//
// Nearest point (exact, ties to the first candidate in search order): for each shift t,
// z = x − t𝟙; for each table entry a the best signing takes s_i = sign(z_i) (sign(0) = +),
// and when the number of negative signs has the wrong parity flips the coordinate with
// the least |z_i|·a_i; the cost is ‖z‖² − 2Σ|z_i|a_i + ‖a‖² (+ 4·min_i |z_i|a_i on a flip).
// 2·256·8 multiply-adds per 8 weights instead of 65536·8; NearestBatch forms them for eight
// vectors at once (one per SIMD lane) and shares the partial sums of leading entries that
// consecutive table rows have in common (727 additions per shift instead of 2048).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace quip::e8p {

constexpr int kDim = 8;
constexpr int kTableSize = 256;
constexpr int kNumPoints = 1 << 16;
// Revision of AbsTable, stored with every E8P layer ("e8p_table" in quip.linears). Revision 1
// (files without the key) had our own norm-12 row where QuIP# once listed a duplicate; 2 is the
// published table (quip-sharp 79b752f). The indices of a revision-1 file decode to other points
// under revision 2, so the loader refuses them rather than run a different model.
constexpr int kTableRevision = 2;

// T as 2a (odd integers 1, 3, 5), kTableSize rows.
const std::array<std::array<int8_t, kDim>, kTableSize>& AbsTable();

// The point with index idx (units of the lattice: entries are multiples of ¼).
void Decode(uint16_t idx, double* out);
void Decode(uint16_t idx, float* out);

// The index of a codebook point, found from its coordinates (inverse of Decode).
// Returns false when `point` is not exactly one of the 2^16 points.
bool Encode(const double* point, uint16_t* idx);

// Exact nearest codebook point to x (8 values); writes the point to out if non-null.
uint16_t Nearest(const double* x, double* out = nullptr);
// Nearest for `count` vectors x[8v .. 8v+8) at once (eight per pass, one per SIMD lane):
// idx[v] is Nearest(x + 8v), bit for bit.
void NearestBatch(const double* x, int64_t count, uint16_t* idx);

// The codebook built directly from its definition, independently of AbsTable's order
// and the index layout: every y ∈ (Z + ½)^8 with Σy even and ‖y‖² ≤ 10, plus the even-sum
// signings of the 29 norm-12 patterns, each ± ¼𝟙 — as 2^16 points in ascending
// lexicographic order (tests).
std::vector<std::array<double, kDim>> EnumerateDirect();

// Mean squared error per weight of x ↦ s·Q(x/s) (Q = Nearest) on `nvec` 8-vectors of
// i.i.d. standard Gaussians from SeededRandom(MixSeed(seed)).
double GaussianMse(double scale, int nvec, uint64_t seed);

}  // namespace quip::e8p
