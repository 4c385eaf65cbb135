// Cholesky factors for the quantizer's O(n³) steps (the asymmetric target, LDL for LDLQ
// and block LDLQ) from LAPACK's DPOTRF, which OpenBLAS provides: about twice the rate of
// Eigen's blocked LLT on this project's machines (bench/results/quantize_bench*.json).
// OpenBLAS is kept single-threaded (core/parallel.h): matrices run one per core.
#pragma once

#include <Eigen/Dense>

namespace quip {

// L with H = L·Lᵀ, zeros above the diagonal; false when H is not numerically positive
// definite (a pivot ≤ 0 or not finite), as Eigen::LLT's info() would report.
bool CholeskyLower(const Eigen::MatrixXd& H, Eigen::MatrixXd* L);

// The upper factor C with H = C·Cᵀ (the LDL forms of LDLQ and block LDLQ read it): the
// Cholesky of H with rows and columns reversed, reversed back.
bool CholeskyUpperReversed(const Eigen::MatrixXd& H, Eigen::MatrixXd* C);

}  // namespace quip
