// Vector codebooks and block LDLQ (QuIP#'s BlockLDLQ, seed 003): adaptive rounding of
// W (m×n) against a proxy Hessian H (n×n) in groups of g consecutive columns, each group
// of each row rounded to a g-dimensional codebook vector.
//
// Block LDL. With C upper triangular and H = C·Cᵀ (one Cholesky of the flipped matrix,
// as ComputeLdl), let C_jj be C's g×g diagonal blocks. Then
//     H = (U + I) · D · (U + I)ᵀ,   U + I = C · blockdiag(C_jj)⁻¹,   D = blockdiag(C_jj·C_jjᵀ),
// U strictly block-upper-triangular (its diagonal g×g blocks are zero). For g = 1 this is
// ComputeLdl's factor exactly (same operations, so the same bits).
//
// Block LDLQ. Columns are taken in groups J = [j·g, (j+1)·g); for each group
//     Ŵ_J = Q(W_J + (W − Ŵ)_{<J} · U_{<J, J}),
// Q rounding each row's g-vector with the codebook. As in scalar LDLQ this minimises the
// feedback-corrected error group by group: the proxy error tr((Ŵ−W)H(Ŵ−W)ᵀ) becomes
// Σ_J tr(E_J D_J E_Jᵀ) with E_J the group's rounding error. Feedback from finished
// 128-column blocks is applied with one GEMM, inside a block group by group.
//
// Codebooks work in the units of W (each holds its own scale). Codes are uint32 words,
// codes_per_group() per (row, group), laid out row-major: codes[(r·(n/g) + j)·cpg + stage].
#pragma once

#include <Eigen/Dense>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "format/vector_codebook.h"
#include "quant/golden_section.h"

namespace quip {

// Scales: one per matrix, s_k = ρ_k · RMS(W) with RMS(W) = ‖W‖_F/√(mn) (the weights in the
// incoherent basis, roughly Gaussian). Defaults: ρ minimising the MSE on unit Gaussian
// data (TuneRho below, 2^17 vectors; docs/e8p.md):
constexpr double kE8PRho = 0.97;        // E8P alone (2 bits)
constexpr double kRvq3StageRho = 0.98;  // 3 bits: E8 1-bit stage after E8P at kE8PRho
constexpr double kRvq4StageRho = 0.29;  // 4 bits: second E8P after E8P at kE8PRho

double RmsOf(const Eigen::MatrixXd& w);
// bits 2: E8P(ρ₁·rms); 3: RVQ E8P(ρ₁·rms) + E8OneBit(ρ₂·rms); 4: RVQ E8P(ρ₁·rms) + E8P(ρ₂·rms).
// ρ ≤ 0 picks the defaults above.
std::unique_ptr<VectorCodebook> MakeE8PCodebook(int bits, double rms, double rho1 = 0.0, double rho2 = 0.0);

// MSE per weight of cb.Round on `nvec` vectors of i.i.d. standard Gaussians (seeded).
double GaussianMse(const VectorCodebook& cb, int nvec, uint64_t seed);
// Golden-section search of ρ in [lo, hi] minimising GaussianMse(*make(ρ)) (same samples
// for every ρ); returns ρ and its MSE in *mse (if non-null).
template <typename Make>
double TuneRho(const Make& make, double lo, double hi, int nvec, uint64_t seed, double* mse);

// H = (U + I) D (U + I)ᵀ with g×g blocks; false when H is not numerically positive definite.
struct BlockLdlFactor {
  int g = 1;
  Eigen::MatrixXd u;               // n×n, strictly block upper triangular
  std::vector<Eigen::MatrixXd> d;  // n/g blocks, g×g
};
bool ComputeBlockLdl(const Eigen::MatrixXd& H, int g, BlockLdlFactor* f);

struct VqResult {
  Eigen::MatrixXd w_hat;        // m×n reconstruction (units of W)
  std::vector<uint32_t> codes;  // layout above
  int codes_per_group = 1;
};
// Block LDLQ with any rounding of a g-column group: round(k0, target, rounded) gets the m×g
// target of columns [k0, k0 + g) (W plus the feedback of the columns rounded before) and
// writes their rounded values; returns Ŵ. Groups run left to right, feedback in lazy
// blocks of ~128 columns (one GEMM per block).
// row_loss, if non-null, receives each row's proxy loss (ŵ_r − w_r) H (ŵ_r − w_r)ᵀ as
// Σ_J η_rJ D_J η_rJᵀ, η_J = target_J − Ŵ_J the group's residual after its feedback: as
// for scalar LDLQ (rounding.h RoundLdlq), (W − Ŵ)(U + I) = η, O(m·n·g) instead of O(m·n²).
using GroupRounding =
    std::function<void(int k0, const Eigen::MatrixXd& target, Eigen::Ref<Eigen::MatrixXd> rounded)>;
Eigen::MatrixXd RoundBlockLdlqWith(const Eigen::MatrixXd& W, const BlockLdlFactor& f, const GroupRounding& round,
                                   Eigen::VectorXd* row_loss = nullptr);
// Each row's g-vectors rounded with cb. Requires n % g == 0 and f.g == cb.dim().
VqResult RoundBlockLdlq(const Eigen::MatrixXd& W, const BlockLdlFactor& f, const VectorCodebook& cb,
                        Eigen::VectorXd* row_loss = nullptr);
// Each group of each row rounded on its own (no feedback): the baseline.
VqResult RoundNearestVector(const Eigen::MatrixXd& W, const VectorCodebook& cb);
// Ŵ from codes (the inverse of the layout above).
Eigen::MatrixXd DecodeVq(const std::vector<uint32_t>& codes, int rows, int cols, const VectorCodebook& cb);

// ---- implementation of the template ----
template <typename Make>
double TuneRho(const Make& make, double lo, double hi, int nvec, uint64_t seed, double* mse) {
  return GoldenSectionMinimize([&](double rho) { return GaussianMse(*make(rho), nvec, seed); }, lo, hi, 1e-3, mse);
}

}  // namespace quip
