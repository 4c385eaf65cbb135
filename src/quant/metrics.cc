// Proxy loss and incoherence measurements (declared in quant/quantize.h).
#include <cmath>

#include "core/error.h"
#include "quant/quantize.h"

namespace quip {

double ProxyLoss(const Eigen::MatrixXd& W_hat, const Eigen::MatrixXd& W, const Eigen::MatrixXd& H) {
  QUIP_ASSERT(W_hat.rows() == W.rows() && W_hat.cols() == W.cols());
  QUIP_ASSERT(H.rows() == W.cols() && H.cols() == W.cols());
  const Eigen::MatrixXd delta = W_hat - W;
  return (delta * H).cwiseProduct(delta).sum();
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
