// OPTQ (GPTQ), written from the published algorithm rather than from LDLQ, so the
// equivalence LDLQ ≡ OPTQ (QuIP Theorem 6) is a real cross-check in the tests.
#include <algorithm>
#include <cmath>

#include "quant/rounding.h"

namespace quip {
namespace {

// GPTQ's lazy batch size B.
constexpr int kOptqBlock = 128;

}  // namespace

bool ComputeOptqFactor(const Eigen::MatrixXd& H, Eigen::MatrixXd* r) {
  // H⁻¹ via Cholesky (torch.cholesky_inverse), then its upper Cholesky factor.
  Eigen::LLT<Eigen::MatrixXd> llt(H);
  if (llt.info() != Eigen::Success) return false;
  const Eigen::MatrixXd hinv = llt.solve(Eigen::MatrixXd::Identity(H.rows(), H.cols()));
  Eigen::LLT<Eigen::MatrixXd> llt_inv(0.5 * (hinv + hinv.transpose()));
  if (llt_inv.info() != Eigen::Success) return false;
  *r = llt_inv.matrixU();
  return r->allFinite() && r->diagonal().minCoeff() > 0.0;
}

Eigen::MatrixXd RoundOptq(const Eigen::MatrixXd& X, const Eigen::MatrixXd& r, int maxq) {
  const int m = static_cast<int>(X.rows()), n = static_cast<int>(X.cols());
  Eigen::MatrixXd w = X;  // updated in place, as GPTQ updates W
  Eigen::MatrixXd codes(m, n);
  for (int i1 = 0; i1 < n; i1 += kOptqBlock) {
    const int i2 = std::min(n, i1 + kOptqBlock), count = i2 - i1;
    Eigen::MatrixXd err1(m, count);
    for (int i = 0; i < count; ++i) {
      const int col = i1 + i;
      const double d = r(col, col);
      for (int row = 0; row < m; ++row) {
        const double q = std::min(std::max(std::nearbyint(w(row, col)), 0.0), double(maxq));
        codes(row, col) = q;
        err1(row, i) = (w(row, col) - q) / d;
      }
      // W1[:, i:] −= err1 ⊗ Hinv1[i, i:] (column i itself is done, so start at i+1).
      if (i + 1 < count)
        w.middleCols(col + 1, count - i - 1).noalias() -= err1.col(i) * r.row(col).segment(col + 1, count - i - 1);
    }
    // W[:, i2:] −= Err1 · Hinv[i1:i2, i2:]
    if (i2 < n) w.rightCols(n - i2).noalias() -= err1 * r.block(i1, i2, count, n - i2);
  }
  return codes;
}

}  // namespace quip
