#include "quant/block_ldlq.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "format/e8p.h"
#include "format/seeded_random.h"
#include "quant/cholesky.h"
#include "quant/rounding.h"
#include "quant/row_blocks.h"

namespace quip {
namespace {

// Columns per feedback block (as RoundLdlq's kLdlqBlock, rounded to a multiple of g).
constexpr int kBlockColumns = 128;

}  // namespace

// ---- scales ----

double RmsOf(const Eigen::MatrixXd& w) {
  QUIP_ASSERT(w.size() > 0);
  return w.norm() / std::sqrt(double(w.size()));
}

std::unique_ptr<VectorCodebook> MakeE8PCodebook(int bits, double rms, double rho1, double rho2) {
  QUIP_CHECK_INPUT(bits >= 2 && bits <= 4, "E8P codebook", "bits must be 2, 3 or 4, got {}", bits);
  QUIP_CHECK_INPUT(rms > 0 && std::isfinite(rms), "E8P codebook", "scale must be positive and finite, got {}", rms);
  if (rho1 <= 0) rho1 = kE8PRho;
  auto first = std::make_unique<E8PCodebook>(rho1 * rms);
  if (bits == 2) return first;
  std::vector<std::unique_ptr<VectorCodebook>> stages;
  stages.push_back(std::move(first));
  if (bits == 3) {
    stages.push_back(std::make_unique<E8OneBitCodebook>((rho2 > 0 ? rho2 : kRvq3StageRho) * rms));
  } else {
    stages.push_back(std::make_unique<E8PCodebook>((rho2 > 0 ? rho2 : kRvq4StageRho) * rms));
  }
  return std::make_unique<RvqCodebook>(std::move(stages));
}

double GaussianMse(const VectorCodebook& cb, int nvec, uint64_t seed) {
  const int g = cb.dim();
  SeededRandom rng(MixSeed(seed));
  std::vector<double> x(g), q(g);
  std::vector<uint32_t> idx(cb.codes_per_group());
  double err = 0.0;
  for (int v = 0; v < nvec; ++v) {
    for (int i = 0; i < g; ++i) x[i] = rng.Gaussian();
    cb.Round(x.data(), q.data(), idx.data());
    for (int i = 0; i < g; ++i) err += (x[i] - q[i]) * (x[i] - q[i]);
  }
  return err / (double(nvec) * g);
}

// ---- block LDL and LDLQ ----

bool ComputeBlockLdl(const Eigen::MatrixXd& H, int g, BlockLdlFactor* f) {
  const int n = static_cast<int>(H.rows());
  QUIP_CHECK_INPUT(g > 0 && n % g == 0, "block LDL", "{} columns are not a multiple of the group size {}", n, g);
  Eigen::MatrixXd c;  // upper, H = C Cᵀ
  if (!CholeskyUpperReversed(H, &c)) return false;
  const Eigen::VectorXd diag = c.diagonal();
  if (!diag.allFinite() || diag.minCoeff() <= 0.0) return false;
  f->g = g;
  f->u.resize(n, n);
  f->d.assign(n / g, Eigen::MatrixXd());
  for (int j0 = 0; j0 < n; j0 += g) {
    const Eigen::MatrixXd cjj = c.block(j0, j0, g, g);
    f->d[j0 / g] = cjj * cjj.transpose();
    if (g == 1) {
      // As ComputeLdl: c_ij · (1 / c_jj).
      f->u.col(j0) = c.col(j0) * (1.0 / c(j0, j0));
    } else {
      const Eigen::MatrixXd inv =
          cjj.triangularView<Eigen::Upper>().solve(Eigen::MatrixXd::Identity(g, g));
      f->u.middleCols(j0, g).noalias() = c.middleCols(j0, g) * inv;
    }
    // Zero the diagonal block (it is I) and everything below it.
    f->u.block(j0, j0, n - j0, g).setZero();
  }
  return f->u.allFinite();
}

Eigen::MatrixXd RoundBlockLdlqWith(const Eigen::MatrixXd& W, const BlockLdlFactor& f, const GroupRounding& round,
                                   Eigen::VectorXd* row_loss) {
  const int m = static_cast<int>(W.rows()), n = static_cast<int>(W.cols()), g = f.g;
  QUIP_ASSERT(f.u.rows() == n && n % g == 0);
  const int block = std::max(g, (kBlockColumns / g) * g);
  Eigen::MatrixXd w_hat(m, n);
  Eigen::MatrixXd err(m, n);      // W − Ŵ of rounded columns
  Eigen::MatrixXd target = W;     // W plus feedback from finished blocks
  Eigen::MatrixXd v(m, g);
  Eigen::VectorXd v1(m);
  if (row_loss != nullptr) row_loss->setZero(m);
  for (int b0 = 0; b0 < n; b0 += block) {
    const int b1 = std::min(n, b0 + block);
    for (int k0 = b0; k0 < b1; k0 += g) {
      if (g == 1) {
        // The expression RoundLdlq evaluates, so that g = 1 reproduces it bit for bit.
        v1 = target.col(k0);
        if (k0 > b0) v1.noalias() += err.middleCols(b0, k0 - b0) * f.u.col(k0).segment(b0, k0 - b0);
        v.col(0) = v1;
      } else {
        v = target.middleCols(k0, g);
        if (k0 > b0) v.noalias() += err.middleCols(b0, k0 - b0) * f.u.block(b0, k0, k0 - b0, g);
      }
      round(k0, v, w_hat.middleCols(k0, g));
      err.middleCols(k0, g) = W.middleCols(k0, g) - w_hat.middleCols(k0, g);
      if (row_loss != nullptr) {
        const Eigen::MatrixXd eta = v - w_hat.middleCols(k0, g);
        *row_loss += (eta * f.d[k0 / g]).cwiseProduct(eta).rowwise().sum();
      }
    }
    AddFeedbackAfterBlock(err, f.u, b0, b1, &target);
  }
  return w_hat;
}

VqResult RoundBlockLdlq(const Eigen::MatrixXd& W, const BlockLdlFactor& f, const VectorCodebook& cb,
                        Eigen::VectorXd* row_loss) {
  const int m = static_cast<int>(W.rows()), n = static_cast<int>(W.cols()), g = cb.dim();
  QUIP_ASSERT(f.g == g && n % g == 0);
  const int ng = n / g, cpg = cb.codes_per_group();
  VqResult res;
  res.codes_per_group = cpg;
  res.codes.assign(size_t(m) * ng * cpg, 0);
  res.w_hat.resize(m, n);
  if (row_loss != nullptr) row_loss->resize(m);
  // Rows are independent problems: blocks of them on the idle threads, bit for bit the
  // unsplit result (quant/row_blocks.h; a lone o_proj or down_proj otherwise rounds on one core).
  ForRowBlocks(m, "rounding", [&](int64_t r0, int64_t r1) {
    const int rows = int(r1 - r0);
    std::vector<double> in(size_t(rows) * g), out(size_t(rows) * g);
    Eigen::VectorXd loss;
    res.w_hat.middleRows(r0, rows) =
        RoundBlockLdlqWith(W.middleRows(r0, rows), f, [&](int k0, const Eigen::MatrixXd& v, Eigen::Ref<Eigen::MatrixXd> rounded) {
          // The block's rows are independent groups: all of them at once (E8P: 8 per pass).
          for (int i = 0; i < rows; ++i)
            for (int t = 0; t < g; ++t) in[size_t(i) * g + t] = v(i, t);
          cb.RoundMany(in.data(), out.data(), &res.codes[(size_t(r0) * ng + k0 / g) * cpg], int64_t(ng) * cpg, rows);
          for (int i = 0; i < rows; ++i)
            for (int t = 0; t < g; ++t) rounded(i, t) = out[size_t(i) * g + t];
        }, row_loss != nullptr ? &loss : nullptr);
    if (row_loss != nullptr) row_loss->segment(r0, rows) = loss;
  });
  return res;
}

VqResult RoundNearestVector(const Eigen::MatrixXd& W, const VectorCodebook& cb) {
  const int m = static_cast<int>(W.rows()), n = static_cast<int>(W.cols()), g = cb.dim();
  QUIP_ASSERT(n % g == 0);
  const int ng = n / g, cpg = cb.codes_per_group();
  VqResult res;
  res.codes_per_group = cpg;
  res.codes.assign(size_t(m) * ng * cpg, 0);
  res.w_hat.resize(m, n);
  std::vector<double> in(g), out(g);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < ng; ++j) {
      for (int t = 0; t < g; ++t) in[t] = W(i, j * g + t);
      cb.Round(in.data(), out.data(), &res.codes[(size_t(i) * ng + j) * cpg]);
      for (int t = 0; t < g; ++t) res.w_hat(i, j * g + t) = out[t];
    }
  return res;
}

Eigen::MatrixXd DecodeVq(const std::vector<uint32_t>& codes, int rows, int cols, const VectorCodebook& cb) {
  const int g = cb.dim(), cpg = cb.codes_per_group();
  QUIP_ASSERT(cols % g == 0);
  const int ng = cols / g;
  QUIP_ASSERT(codes.size() == size_t(rows) * ng * cpg);
  Eigen::MatrixXd w(rows, cols);
  std::vector<double> out(g);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < ng; ++j) {
      cb.Decode(&codes[(size_t(i) * ng + j) * cpg], out.data());
      for (int t = 0; t < g; ++t) w(i, j * g + t) = out[t];
    }
  return w;
}

}  // namespace quip
