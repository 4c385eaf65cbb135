// The invertible part of QuIP's pre-processing (Algorithm 1, steps 2–5) and its
// inverse (Algorithm 2), kept apart from rounding so that tests can check
// FromGrid(ToGrid(W)) == W with nothing rounded in between.
//
//   transformed basis   W' = U · (W · diag(D̃)) · Vᵀ      H' = V · D̃⁻¹ H D̃⁻¹ · Vᵀ
//   grid units          X[r][c] = W'[r][c] / row_scale[r] + row_zero[r]
// (U, V only when incoherent; D̃ only when rescaling.) Scales and D̃ are rounded to
// float when chosen, so the codes are picked against exactly the grid that
// QuantizedMatrix stores.
#pragma once

#include <Eigen/Dense>
#include <cstdint>

#include "format/stored_linear.h"
#include "quant/quantized_matrix.h"
#include "format/rotation.h"

namespace quip {

struct LayerTransform {
  int rows = 0, cols = 0;
  Incoherence incoherence;  // D̃ (float, as stored) and U, V
  Eigen::VectorXd row_scale, row_zero;  // rows each; set by Set*Grid
};

// D̃ = ⁴√(diag H / diag WᵀW). Both diagonals are floored at 1e-8 of their mean
// (as QuIP's code floors them) so a near-empty column or input cannot produce an
// extreme factor; all-zero columns (dead inputs) get D̃ = 1.
Eigen::VectorXd RescaleFactors(const Eigen::MatrixXd& W, const Eigen::VectorXd& diag_h);

Eigen::MatrixXd ToTransformedBasis(const Eigen::MatrixXd& W, const LayerTransform& t);
Eigen::MatrixXd FromTransformedBasis(const Eigen::MatrixXd& Wp, const LayerTransform& t);
Eigen::MatrixXd TransformHessian(const Eigen::MatrixXd& H, const LayerTransform& t);

// QuIP's grid: one scale for the whole matrix, s = ρ‖W'‖_F/√(mn), codes 0..2^b−1
// spanning [−s, s] (row_scale = 2s/(2^b−1), row_zero = (2^b−1)/2 in every row).
void SetSymmetricGrid(const Eigen::MatrixXd& Wp, double rho, int bits, LayerTransform* t);
// OPTQ's baseline grid: per output row, [min(row, 0), max(row, 0)] over 2^b−1 steps
// with an integer zero point (so 0 is exactly representable), as in GPTQ's Quantizer.
void SetMinMaxGrid(const Eigen::MatrixXd& Wp, int bits, LayerTransform* t);

Eigen::MatrixXd ToGridUnits(const Eigen::MatrixXd& Wp, const LayerTransform& t);
Eigen::MatrixXd FromGridUnits(const Eigen::MatrixXd& X, const LayerTransform& t);

// Whole pre-processing / post-processing pair (no clamping, no rounding).
Eigen::MatrixXd ToGrid(const Eigen::MatrixXd& W, const LayerTransform& t);
Eigen::MatrixXd FromGrid(const Eigen::MatrixXd& X, const LayerTransform& t);

// The transform a QuantizedMatrix describes.
LayerTransform TransformOf(const QuantizedMatrix& q);

}  // namespace quip
