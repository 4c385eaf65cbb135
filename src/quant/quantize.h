// Layer-level entry point of the QuIP quantizer (Algorithms 1–3 of the paper):
// pre-processing (damping, diagonal rescaling, Kronecker incoherence, range),
// rounding (nearest, stochastic, LDLQ, OPTQ, LDLQ-RG) and the result in the
// QuantizedMatrix contract (quant/quantized_matrix.h), whose post-processing
// (Algorithm 2) is Dequantize here and is fused into inference elsewhere.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "quant/quantized_matrix.h"
#include "format/rotation.h"

namespace quip {

enum class Rounding { kNearest, kStochastic, kLdlq, kOptq, kLdlqRg };

// "near", "stoch", "ldlq", "optq", "ldlq-rg" (for reports and command lines).
const char* RoundingName(Rounding r);
// Inverse of RoundingName; throws quip::Error on an unknown name.
Rounding ParseRounding(const std::string& name);

struct QuantConfig {
  int bits = 2;                 // 2, 3, 4
  Rounding rounding = Rounding::kLdlq;
  bool incoherence = true;      // random orthogonal U, V
  RotationKind rotation = RotationKind::kKron;  // which U, V: Kronecker or randomized Hadamard
  Codebook codebook = Codebook::kScalar;         // scalar grid, E8P vectors (+ RVQ at 3/4 bits), or trellis
  trellis::Code trellis_code = trellis::Code::k1Mad;  // the trellis codebook's computed code
  bool rescale = true;          // D̃ = ⁴√(diag H / diag WᵀW)
  bool range_tuning = false;    // search ρ per matrix (around rho) for the lowest proxy loss
  double damping = 0.01;        // α: H += α·mean(diag H)·I
  double rho = 0.0;             // ≤ 0: DefaultRho(bits) (scalar), DefaultE8PRho(bits) (e8p, first stage),
                                // DefaultTrellisRho(bits, code) (trellis)
  double rho2 = 0.0;            // e8p residual stage at 3/4 bits; ≤ 0: block_ldlq.h's default
  uint64_t seed = 0;            // drives U, V seeds and stochastic rounding
  int rg_passes = 4;            // bound on LDLQ-RG greedy passes
  // Algorithm 1 step 6 as written: clip the grid-unit weights to [0, 2^b−1] before
  // rounding, so clipping error is never fed back. Off (default) lets LDLQ/OPTQ see and
  // compensate it; codes are clamped either way. Off halves the proxy loss on synthetic
  // incoherent problems at 3–4 bits (4-bit ρ=2.4: 0.0051 → 0.0024 relative) and gives
  // books-llama-5m 2-bit QuIP ppl ratio 1.179 instead of 1.186.
  bool clip_before_rounding = false;
  // μ_H needs an eigendecomposition (O(n³), seconds at n = 4096): stats.mu_h_* are
  // NaN when cols exceeds this.
  int mu_h_max_dim = 2048;
};

// Range multiplier ρ for the incoherent one-scale grid s = ρ‖W‖_F/√(mn):
// 1.8 at 2 bits, 2.4 at 3 and 4 bits. Measured by the team on the real model (the
// per-bit optimum trades clipping of the Gaussian-like incoherent weights against
// grid resolution: fewer levels favour a tighter range).
double DefaultRho(int bits);

// First-stage scale of the e8p codebook, s₁ = ρ·RMS(W'). The MSE optimum on Gaussian data
// is 0.97 (block_ldlq.h, kE8PRho); with block LDLQ's feedback a wider range measured better
// at 2 bits on books-llama-5m (ppl ratio, first 120 valid windows: ρ 0.97 → 1.129,
// 1.05 → 1.119, 1.15 → 1.116, 1.2 → 1.150, 1.3 → 1.151; noisy, ±0.01 between neighbours):
// 1.15 at 2 bits. At 3 bits 0.97 beat 1.15 (1.029 vs 1.035), so 3/4 bits keep 0.97.
double DefaultE8PRho(int bits);

// Scale of the trellis codebook, s = ρ·RMS(W'): the MSE optimum of the code on unit
// Gaussian data (bench/codebook_mse, golden-section search over the two-pass tail-biting
// quantizer; bench/results/codebook_mse.json).
double DefaultTrellisRho(int bits, trellis::Code code);

struct QuantStats {
  double proxy_loss = 0;           // tr((Ŵ−W)H(Ŵ−W)ᵀ), original basis, H as given (undamped); from
                                   // LDLQ's residuals where it rounded (quantize.cc LossFromResiduals)
  double relative_proxy_loss = 0;  // proxy_loss / tr(WHWᵀ)
  double mu_h_before = 0, mu_h_after = 0;  // IncoherenceMuH of the given H / of the H rounded against
  double mu_w_before = 0, mu_w_after = 0;  // IncoherenceMuW of the given W / of the W rounded
  bool damping_retried = false;    // Cholesky failed and damping was raised
  double rho = 0;                  // ρ used (incoherent scalar grid, e8p first stage; 0 otherwise)
  double damping = 0;              // α finally used
  std::string note;                // human-readable warnings, empty when all went as planned
};


class VectorCodebook;  // format/vector_codebook.h
// The e8p codebook of a stored matrix: E8P at stage_scale[0], plus at 3/4 bits the
// residual stage (signs / E8P) at stage_scale[1]. Throws quip::Error for bad scales.
std::unique_ptr<VectorCodebook> E8PCodebookFromScales(int bits, const std::vector<float>& stage_scale);

// w is [rows, cols] row-major; H is cols×cols (E[x xᵀ] of the layer's inputs).
// Throws quip::Error naming "weight" or "Hessian" for NaN/Inf or malformed input.
// `stats` may be null (then the proxy loss and μ are not computed).
QuantizedMatrix QuantizeMatrix(const float* w, int rows, int cols, Eigen::MatrixXd H, const QuantConfig& cfg,
                               QuantStats* stats);

// Ŵ in the original basis, per the formula in quantized_matrix.h (reference path, tests).
Eigen::MatrixXd Dequantize(const QuantizedMatrix& q);

// tr((Ŵ−W) H (Ŵ−W)ᵀ) for a symmetric H (only its lower triangle is read).
double ProxyLoss(const Eigen::MatrixXd& W_hat, const Eigen::MatrixXd& W, const Eigen::MatrixXd& H);
// The proxy loss and tr(W H Wᵀ) (the relative loss's denominator) in one pass over H, on
// the thread pool's idle threads; CPU seconds of helper threads go to the "diagnostics" phase.
struct ProxyLossTerms {
  double loss = 0;   // tr((Ŵ−W) H (Ŵ−W)ᵀ)
  double total = 0;  // tr(W H Wᵀ)
};
ProxyLossTerms ProxyLossAndTotal(const Eigen::MatrixXd& W_hat, const Eigen::MatrixXd& W, const Eigen::MatrixXd& H);
// tr(W H Wᵀ) alone, the same pass.
double HessianTrace(const Eigen::MatrixXd& W, const Eigen::MatrixXd& H);
// The same with the Gram panels WᵀW in float (SGEMM; each panel's sum in double): ~1e-7
// relative from HessianTrace, at twice its rate. QuantizeMatrix's reported denominator
// tr(WHWᵀ) (report-only: the codes do not depend on it).
double HessianTraceFloatPanels(const Eigen::MatrixXd& W, const Eigen::MatrixXd& H);
// The paper's incoherence parameters (Definition 1):
//   μ_H = √n · max |Q_ij| for an eigendecomposition H = QΛQᵀ,
//   μ_W = √(mn) · max |W_ij| / ‖W‖_F.
double IncoherenceMuH(const Eigen::MatrixXd& H);
double IncoherenceMuW(const Eigen::MatrixXd& W);

}  // namespace quip
