// Proxy loss and incoherence measurements (declared in quant/quantize.h).
#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"
#include "core/phase_profile.h"
#include "core/thread_pool.h"
#include "quant/quantize.h"

namespace quip {

namespace {

// Columns of the Gram per panel: a panel's scratch is n × kPanel doubles (5.8 MB at
// n = 5632), and its GEMM is wide enough for OpenBLAS's kernels.
constexpr int kPanel = 128;

// tr(X H Xᵀ) for each X of xs (all m×n), in one pass over H; the Gram panels in Scalar
// (double: DGEMM; float: SGEMM on a float copy of each X, twice the rate), each panel's
// inner product with H in double.
template <typename Scalar>
std::vector<double> HessianTraces(const std::vector<const Eigen::MatrixXd*>& xs, const Eigen::MatrixXd& H) {
  // tr(X H Xᵀ) = ⟨H, XᵀX⟩ with XᵀX's lower triangle only (mn² flops for each X, half of
  // the product X·H). The triangle is formed by panels of kPanel columns:
  // panel [j0, j1) is X[:, j0:]ᵀ·X[:, j0:j1] (one OpenBLAS GEMM, ~1.5x Eigen's SYRK on
  // this machine), so only a panel is ever held, and panels run on the pool's idle
  // threads. Each panel's sum is kept apart and they are added in order, so the value
  // does not depend on the thread count.
  using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
  UseSingleThreadedBlas();
  const int m = int(xs.at(0)->rows()), n = int(xs.at(0)->cols());
  QUIP_ASSERT(H.rows() == n && H.cols() == n);
  for (const Eigen::MatrixXd* x : xs) QUIP_ASSERT(x->rows() == m && x->cols() == n);
  std::vector<Matrix> copies;  // float only: X in Scalar
  copies.reserve(xs.size());
  std::vector<const Scalar*> data;
  for (const Eigen::MatrixXd* x : xs) {
    if constexpr (std::is_same_v<Scalar, double>) {
      data.push_back(x->data());
    } else {
      copies.push_back(x->cast<Scalar>());
      data.push_back(copies.back().data());
    }
  }
  const int panels = (n + kPanel - 1) / kPanel;
  std::vector<std::vector<double>> part(static_cast<size_t>(panels), std::vector<double>(xs.size(), 0.0));
  const std::thread::id caller = std::this_thread::get_id();
  ThreadPool::Global().Run(panels, [&](int64_t p) {
    const double start = ThreadCpuSeconds();
    const int j0 = int(p) * kPanel, b = std::min(kPanel, n - j0), rest = n - j0;
    Matrix gram(rest, b);
    auto weighted = [&](const Scalar* x) {
      if constexpr (std::is_same_v<Scalar, double>)
        cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, rest, b, m, 1.0, x + int64_t(j0) * m, m,
                    x + int64_t(j0) * m, m, 0.0, gram.data(), rest);
      else
        cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, rest, b, m, 1.0f, x + int64_t(j0) * m, m,
                    x + int64_t(j0) * m, m, 0.0f, gram.data(), rest);
      double diagonal = 0.0, below = 0.0;
      for (int c = 0; c < b; ++c) {
        diagonal += H(j0 + c, j0 + c) * double(gram(c, c));
        for (int r = c + 1; r < rest; ++r) below += H(j0 + r, j0 + c) * double(gram(r, c));
      }
      return diagonal + 2.0 * below;
    };
    if (m > 0)
      for (size_t i = 0; i < xs.size(); ++i) part[size_t(p)][i] = weighted(data[i]);
    if (std::this_thread::get_id() != caller)
      if (PhaseProfile* profile = PhaseProfile::Active()) profile->AddThreadSeconds("diagnostics", ThreadCpuSeconds() - start);
  });
  std::vector<double> sum(xs.size(), 0.0);
  for (const std::vector<double>& t : part)
    for (size_t i = 0; i < xs.size(); ++i) sum[i] += t[i];
  return sum;
}

}  // namespace

ProxyLossTerms ProxyLossAndTotal(const Eigen::MatrixXd& W_hat, const Eigen::MatrixXd& W, const Eigen::MatrixXd& H) {
  QUIP_ASSERT(W_hat.rows() == W.rows() && W_hat.cols() == W.cols());
  const Eigen::MatrixXd delta = W_hat - W;
  const std::vector<double> t = HessianTraces<double>({&delta, &W}, H);
  return {t[0], t[1]};
}

double HessianTrace(const Eigen::MatrixXd& W, const Eigen::MatrixXd& H) { return HessianTraces<double>({&W}, H)[0]; }

double HessianTraceFloatPanels(const Eigen::MatrixXd& W, const Eigen::MatrixXd& H) {
  return HessianTraces<float>({&W}, H)[0];
}

double ProxyLoss(const Eigen::MatrixXd& W_hat, const Eigen::MatrixXd& W, const Eigen::MatrixXd& H) {
  return ProxyLossAndTotal(W_hat, W, H).loss;
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
