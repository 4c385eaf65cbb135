// Proxy loss and incoherence measurements (declared in quant/quantize.h).
#include <cmath>

#include "core/error.h"
#include "quant/quantize.h"

namespace quip {

double ProxyLoss(const Eigen::MatrixXd& W_hat, const Eigen::MatrixXd& W, const Eigen::MatrixXd& H) {
  QUIP_ASSERT(W_hat.rows() == W.rows() && W_hat.cols() == W.cols());
  QUIP_ASSERT(H.rows() == W.cols() && H.cols() == W.cols());
  // tr(Δ H Δᵀ) = ⟨H, ΔᵀΔ⟩ with ΔᵀΔ as one triangle of a rank-m update (SYRK, mn² flops)
  // rather than the full product Δ·H (2mn²): the pipeline calls this twice per matrix,
  // and at Llama-2-7B shapes the diagnostics were ~8 % of a run (issue 19).
  const Eigen::MatrixXd delta_t = (W_hat - W).transpose();
  const Eigen::Index n = H.rows();
  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(n, n);
  gram.selfadjointView<Eigen::Lower>().rankUpdate(delta_t);
  double diagonal = 0.0, below = 0.0;
  for (Eigen::Index j = 0; j < n; ++j) {
    diagonal += H(j, j) * gram(j, j);
    for (Eigen::Index i = j + 1; i < n; ++i) below += H(i, j) * gram(i, j);
  }
  return diagonal + 2.0 * below;
}

double IncoherenceMuH(const Eigen::MatrixXd& H) {
  QUIP_ASSERT(H.rows() == H.cols() && H.rows() > 0);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(H);
  QUIP_CHECK_INPUT(eig.info() == Eigen::Success, "Hessian", "eigendecomposition failed");
  return std::sqrt(double(H.rows())) * eig.eigenvectors().cwiseAbs().maxCoeff();
}

double IncoherenceMuW(const Eigen::MatrixXd& W) {
  const double norm = W.norm();
  if (norm == 0.0) return 0.0;
  return std::sqrt(double(W.rows()) * double(W.cols())) * W.cwiseAbs().maxCoeff() / norm;
}

}  // namespace quip
