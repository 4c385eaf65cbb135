// Rounding of a grid-unit matrix X (m×n, values meant to lie in [0, maxq]) to
// integer codes in [0, maxq], against a proxy Hessian H (n×n) in the same basis.
// Rows are independent problems: the loss is Σ_r (ŵ_r − x_r) H (ŵ_r − x_r)ᵀ.
// Codes are returned as a double matrix holding small integers.
#pragma once

#include <Eigen/Dense>
#include <cstdint>

#include "quant/quantize.h"

namespace quip {

// Q(x) = clamp(round-half-even(x), 0, maxq).
Eigen::MatrixXd RoundNearest(const Eigen::MatrixXd& X, int maxq);
// Unbiased: ⌊x⌋ + [u < frac(x)] with seeded u, then clamped.
Eigen::MatrixXd RoundStochastic(const Eigen::MatrixXd& X, int maxq, uint64_t seed);

// H = (Û + I) D (Û + I)ᵀ, Û strictly upper triangular, D = diag(d) > 0.
struct LdlFactor {
  Eigen::MatrixXd u;  // Û
  Eigen::VectorXd d;
};
// From one Cholesky of the flipped matrix (J H J = L Lᵀ, so H = (J L J)(J L J)ᵀ with
// J L J upper triangular). False when H is not numerically positive definite.
bool ComputeLdl(const Eigen::MatrixXd& H, LdlFactor* f);

// target[:, b1:] += err[:, b0:b1] · u[b0:b1, b1:]: the feedback of a finished block of
// columns to the columns after it, one OpenBLAS GEMM (~1.4x Eigen's product here, issue 19).
// LDLQ and block LDLQ share it, so block LDLQ with groups of 1 reproduces LDLQ bit for bit.
void AddFeedbackAfterBlock(const Eigen::MatrixXd& err, const Eigen::MatrixXd& u, int b0, int b1,
                           Eigen::MatrixXd* target);

// LDLQ (Algorithm 3 step 3): column k ← Q(X_k + (X − Ŵ)_{<k} Û_{<k,k}), clamped.
// Blocked: feedback from finished blocks of columns is applied with one GEMM.
//
// With row_loss, also each row's proxy loss (ŵ_r − x_r) H (ŵ_r − x_r)ᵀ in O(n) per row
// (QuIP, Theorem 1's proof): with E = X − Ŵ and η = (X + E·Û) − Ŵ the rounding residuals
// (what each column's rounding left, after its feedback), E·(Û + I) = η, so
// E·H·Eᵀ = η·D·ηᵀ and the loss of row r is Σ_k d_k η_rk² -- no O(n²) product.
// row_loss, if non-null, receives m values.
Eigen::MatrixXd RoundLdlq(const Eigen::MatrixXd& X, const LdlFactor& f, int maxq, bool stochastic, uint64_t seed,
                          double* row_loss = nullptr);

// OPTQ/GPTQ as published (Frantar et al. 2023, Algorithm 1): the upper Cholesky factor
// R of H⁻¹ (H⁻¹ = RᵀR), then column-by-column rounding with the error spread over the
// remaining columns of the block and lazy batch updates of 128 columns.
bool ComputeOptqFactor(const Eigen::MatrixXd& H, Eigen::MatrixXd* r);
Eigen::MatrixXd RoundOptq(const Eigen::MatrixXd& X, const Eigen::MatrixXd& r, int maxq);

// Greedy coordinate descent on the proxy loss: for each weight, try the neighbouring
// codes ±1 and keep the best improvement; up to `passes` sweeps, stopping early when a
// sweep changes nothing. Returns the number of sweeps run.
int GreedyRefine(const Eigen::MatrixXd& X, const Eigen::MatrixXd& H, int maxq, int passes, Eigen::MatrixXd* codes);

// tr((C − X) H (C − X)ᵀ) in grid units.
double GridLoss(const Eigen::MatrixXd& codes, const Eigen::MatrixXd& X, const Eigen::MatrixXd& H);

// One rounding method with its factorisation of H computed once, so several grids
// (range tuning) can be rounded against the same H.
class Rounder {
 public:
  Rounder(Rounding method, int rg_passes) : method_(method), rg_passes_(rg_passes) {}
  // False when the method needs a Cholesky and H is not positive definite.
  bool Prepare(const Eigen::MatrixXd& H);
  // row_loss (if non-null): LDLQ's per-row proxy losses from its residuals (RoundLdlq);
  // resized to 0 for the other methods, which have no such identity.
  Eigen::MatrixXd Round(const Eigen::MatrixXd& X, int maxq, uint64_t seed, Eigen::VectorXd* row_loss = nullptr) const;

 private:
  Rounding method_;
  int rg_passes_;
  LdlFactor ldl_;
  Eigen::MatrixXd optq_r_;
  Eigen::MatrixXd h_;  // (permuted) H, for LDLQ-RG's greedy passes
  Eigen::VectorXi order_;  // LDLQ-RG column order: decreasing diag H
};

}  // namespace quip
