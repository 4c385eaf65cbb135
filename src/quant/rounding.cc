#include "quant/rounding.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/parallel.h"
#include "format/seeded_random.h"
#include "quant/cholesky.h"
#include "quant/row_blocks.h"

namespace quip {
namespace {

// Columns per block in LDLQ: the in-block feedback is matrix-vector work, the
// feedback from earlier blocks one GEMM per block.
constexpr int kLdlqBlock = 128;

double Clamp(double v, int maxq) { return std::min(std::max(v, 0.0), double(maxq)); }

}  // namespace

Eigen::MatrixXd RoundNearest(const Eigen::MatrixXd& X, int maxq) {
  return X.unaryExpr([maxq](double v) { return Clamp(std::nearbyint(v), maxq); });
}

Eigen::MatrixXd RoundStochastic(const Eigen::MatrixXd& X, int maxq, uint64_t seed) {
  SeededRandom rng(MixSeed(seed));
  Eigen::MatrixXd c(X.rows(), X.cols());
  for (int j = 0; j < X.cols(); ++j)
    for (int i = 0; i < X.rows(); ++i) {
      const double fl = std::floor(X(i, j));
      c(i, j) = Clamp(fl + (rng.Uniform() < X(i, j) - fl ? 1.0 : 0.0), maxq);
    }
  return c;
}

bool ComputeLdl(const Eigen::MatrixXd& H, LdlFactor* f) {
  const int n = static_cast<int>(H.rows());
  Eigen::MatrixXd c;  // upper, H = C Cᵀ
  if (!CholeskyUpperReversed(H, &c)) return false;
  const Eigen::VectorXd diag = c.diagonal();
  if (!diag.allFinite() || diag.minCoeff() <= 0.0) return false;
  f->d = diag.cwiseAbs2();
  f->u = c * diag.cwiseInverse().asDiagonal();
  f->u.diagonal().setZero();
  f->u.triangularView<Eigen::StrictlyLower>().setZero();
  if (!f->u.allFinite()) return false;
  QUIP_ASSERT(f->u.rows() == n);
  return true;
}

void AddFeedbackAfterBlock(const Eigen::MatrixXd& err, const Eigen::MatrixXd& u, int b0, int b1,
                           Eigen::MatrixXd* target) {
  const int64_t m = err.rows(), n = err.cols();
  QUIP_ASSERT(target->rows() == m && target->cols() == n && u.rows() == n && u.cols() == n);
  if (b1 >= n || m == 0) return;
  UseSingleThreadedBlas();
  cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, int(m), int(n - b1), b1 - b0, 1.0, err.data() + b0 * m,
              int(m), u.data() + b1 * n + b0, int(n), 1.0, target->data() + b1 * m, int(m));
}

Eigen::MatrixXd RoundLdlq(const Eigen::MatrixXd& X, const LdlFactor& f, int maxq, bool stochastic, uint64_t seed,
                          double* row_loss) {
  const int m = static_cast<int>(X.rows()), n = static_cast<int>(X.cols());
  QUIP_ASSERT(f.u.rows() == n);
  SeededRandom rng(MixSeed(seed));
  Eigen::MatrixXd codes(m, n), err(m, n);  // err = X − Ŵ of rounded columns
  Eigen::MatrixXd target = X;              // X plus feedback from finished blocks
  Eigen::VectorXd v(m);
  if (row_loss != nullptr) std::fill(row_loss, row_loss + m, 0.0);
  for (int b0 = 0; b0 < n; b0 += kLdlqBlock) {
    const int b1 = std::min(n, b0 + kLdlqBlock);
    for (int k = b0; k < b1; ++k) {
      v = target.col(k);
      if (k > b0) v.noalias() += err.middleCols(b0, k - b0) * f.u.col(k).segment(b0, k - b0);
      for (int i = 0; i < m; ++i) {
        double q;
        if (stochastic) {
          const double fl = std::floor(v[i]);
          q = fl + (rng.Uniform() < v[i] - fl ? 1.0 : 0.0);
        } else {
          q = std::nearbyint(v[i]);
        }
        codes(i, k) = Clamp(q, maxq);
      }
      err.col(k) = X.col(k) - codes.col(k);
      if (row_loss != nullptr)
        for (int i = 0; i < m; ++i) row_loss[i] += f.d[k] * (v[i] - codes(i, k)) * (v[i] - codes(i, k));
    }
    AddFeedbackAfterBlock(err, f.u, b0, b1, &target);
  }
  return codes;
}

int GreedyRefine(const Eigen::MatrixXd& X, const Eigen::MatrixXd& H, int maxq, int passes, Eigen::MatrixXd* codes) {
  const int m = static_cast<int>(X.rows()), n = static_cast<int>(X.cols());
  // Row r's loss is e H eᵀ with e = ŵ_r − x_r. Keep g = e H (per row, as columns of gt
  // for contiguous access); changing e_k by δ changes the loss by 2δ g_k + δ² H_kk and
  // g by δ H_k (H symmetric), so each trial is O(1) and each accepted move O(n).
  const Eigen::MatrixXd et = (*codes - X).transpose();  // n×m
  Eigen::MatrixXd gt = H * et;                          // n×m, column r = (e_r H)ᵀ
  Eigen::MatrixXd ct = codes->transpose();
  int sweeps = 0;
  bool changed = true;
  while (changed && sweeps < passes) {
    changed = false;
    ++sweeps;
    // Rows are independent; the pipeline already runs one matrix per core.
    for (int r = 0; r < m; ++r) {
      double* c = ct.col(r).data();
      double* g = gt.col(r).data();
      for (int k = 0; k < n; ++k) {
        const double hkk = H(k, k);
        // Require a real decrease so floating-point noise cannot make moves cycle.
        double best = -1e-9 * hkk, best_delta = 0.0;
        for (double delta : {-1.0, 1.0}) {
          const double next = c[k] + delta;
          if (next < 0.0 || next > maxq) continue;
          const double change = 2.0 * delta * g[k] + hkk;
          if (change < best) {
            best = change;
            best_delta = delta;
          }
        }
        if (best_delta != 0.0) {
          c[k] += best_delta;
          Eigen::Map<Eigen::VectorXd>(g, n).noalias() += best_delta * H.col(k);
          changed = true;
        }
      }
    }
  }
  *codes = ct.transpose();
  return sweeps;
}

double GridLoss(const Eigen::MatrixXd& codes, const Eigen::MatrixXd& X, const Eigen::MatrixXd& H) {
  const Eigen::MatrixXd e = codes - X;
  return (e * H).cwiseProduct(e).sum();
}

bool Rounder::Prepare(const Eigen::MatrixXd& H) {
  switch (method_) {
    case Rounding::kNearest:
    case Rounding::kStochastic:
      return true;
    case Rounding::kLdlq:
      return ComputeLdl(H, &ldl_);
    case Rounding::kOptq:
      return ComputeOptqFactor(H, &optq_r_);
    case Rounding::kLdlqRg: {
      // Most important inputs first (OPTQ's "act order"): their errors can then be
      // compensated by the many columns after them.
      const int n = static_cast<int>(H.rows());
      order_.resize(n);
      std::iota(order_.data(), order_.data() + n, 0);
      std::stable_sort(order_.data(), order_.data() + n, [&](int a, int b) { return H(a, a) > H(b, b); });
      h_ = H(order_, order_);
      return ComputeLdl(h_, &ldl_);
    }
  }
  return false;
}

Eigen::MatrixXd Rounder::Round(const Eigen::MatrixXd& X, int maxq, uint64_t seed, Eigen::VectorXd* row_loss) const {
  if (row_loss != nullptr) row_loss->resize(method_ == Rounding::kLdlq ? X.rows() : 0);
  switch (method_) {
    case Rounding::kNearest:
      return RoundNearest(X, maxq);
    case Rounding::kStochastic:
      return RoundStochastic(X, maxq, seed);
    case Rounding::kLdlq: {
      // Rows are independent problems: blocks of them on the idle threads (quant/row_blocks.h).
      Eigen::MatrixXd codes(X.rows(), X.cols());
      ForRowBlocks(X.rows(), "rounding", [&](int64_t r0, int64_t r1) {
        codes.middleRows(r0, r1 - r0) = RoundLdlq(X.middleRows(r0, r1 - r0), ldl_, maxq, false, seed,
                                                  row_loss != nullptr ? row_loss->data() + r0 : nullptr);
      });
      return codes;
    }
    case Rounding::kOptq:
      return RoundOptq(X, optq_r_, maxq);
    case Rounding::kLdlqRg: {
      const Eigen::MatrixXd xp = X(Eigen::all, order_);
      Eigen::MatrixXd cp = RoundLdlq(xp, ldl_, maxq, false, seed);
      GreedyRefine(xp, h_, maxq, rg_passes_, &cp);
      Eigen::MatrixXd codes(X.rows(), X.cols());
      codes(Eigen::all, order_) = cp;
      return codes;
    }
  }
  QUIP_ASSERT(false);
}

}  // namespace quip
