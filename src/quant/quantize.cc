#include "quant/quantize.h"

#include <cmath>
#include <limits>
#include <optional>

#include "core/error.h"
#include "core/tiles.h"
#include "core/phase_profile.h"
#include "core/thread_pool.h"
#include "quant/block_ldlq.h"
#include "format/hadamard.h"
#include "format/kronecker.h"
#include "quant/layer_transform.h"
#include "quant/rounding.h"
#include "quant/trellis_ldlq.h"
#include "format/seeded_random.h"

namespace quip {
namespace {

// Cholesky failures are retried with the damping raised tenfold each time, starting
// from at least 1e-3 (so damping = 0 can still recover).
constexpr int kDampingRetries = 3;
// ρ multipliers tried by range tuning (the default ρ sits in the middle).
constexpr double kRhoSearch[] = {0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.35};

// Closed-form floating-point work for the profile (core/phase_profile.h), 2 per
// multiply-add. One rotation of one length-n vector: Kronecker 2n(p+q); randomized
// Hadamard n·log2(n/K) butterfly additions, 2nK for the K×K block, n sign flips.
double RotationFlop(RotationKind kind, int n) {
  if (kind == RotationKind::kKron) {
    const int p = KroneckerSplit(n);
    return 2.0 * n * (p + n / p);
  }
  const int k = std::max(HadamardBaseOrder(n), 1);
  return n * std::log2(double(n) / k) + 2.0 * n * (k > 1 ? k : 0) + n;
}

// W' = U W Vᵀ (m rows, n columns) and H' = V H Vᵀ.
double WeightTransformFlop(const QuantConfig& cfg, int m, int n) {
  return cfg.incoherence ? n * RotationFlop(cfg.rotation, m) + m * RotationFlop(cfg.rotation, n) : 0.0;
}
double HessianTransformFlop(const QuantConfig& cfg, int n) {
  return cfg.incoherence ? 2.0 * n * RotationFlop(cfg.rotation, n) : 0.0;
}
double PreprocessFlop(const QuantConfig& cfg, int m, int n) {
  return WeightTransformFlop(cfg, m, n) + HessianTransformFlop(cfg, n);
}

// Cholesky / LDL n³/3; OPTQ also inverts H (2n³) and factors the inverse (n³/3).
double FactorFlop(const QuantConfig& cfg, int n) {
  const double n3 = double(n) * n * n;
  if (cfg.codebook != Codebook::kScalar) return cfg.rounding == Rounding::kLdlq ? n3 / 3 : 0.0;
  switch (cfg.rounding) {
    case Rounding::kLdlq:
    case Rounding::kLdlqRg: return n3 / 3;
    case Rounding::kOptq: return n3 / 3 + 2 * n3 + n3 / 3;
    default: return 0.0;
  }
}

// LDLQ / OPTQ feedback: column k gets the m×k errors before it times a k-vector, m·n²
// in all; range tuning rounds 7 times and scores each rounding (2mn²).
double RoundingFlop(const QuantConfig& cfg, int m, int n) {
  const double mn2 = double(m) * n * n;
  const bool feedback = cfg.rounding == Rounding::kLdlq || cfg.rounding == Rounding::kOptq ||
                        cfg.rounding == Rounding::kLdlqRg;
  if (cfg.codebook != Codebook::kScalar) return cfg.rounding == Rounding::kLdlq ? mn2 : 0.0;
  const double once = feedback ? mn2 : 0.0;
  if (cfg.range_tuning && cfg.incoherence) return std::size(kRhoSearch) * (once + 2 * mn2);
  return once;
}

// What the rounding left, for the proxy loss without an O(mn²) product (LossFromResiduals).
struct Residuals {
  Eigen::VectorXd row_loss;  // per row, tr(Δ' H' Δ'ᵀ)'s terms (transformed basis, real units); empty: none
  Eigen::MatrixXd delta;     // Δ' = Ŵ' − W', m×n
};

struct Attempt {
  LayerTransform transform;
  Eigen::MatrixXd wp;  // weights in the transformed basis
  Eigen::MatrixXd hp;  // damped Hessian in the transformed basis
  Eigen::MatrixXd codes;
};

// Algorithm 1 steps 2–3 for one damping value: the damped H (returned) and the transform
// (a.transform); step 4, W' and H' in its basis, is left to the caller (independent products).
Eigen::MatrixXd ChooseTransform(const Eigen::MatrixXd& W, const Eigen::MatrixXd& H, double alpha, const QuantConfig& cfg,
                                Attempt* attempt) {
  Attempt& a = *attempt;
  Eigen::MatrixXd hd = H;
  hd.diagonal().array() += alpha * H.diagonal().mean();
  LayerTransform& t = a.transform;
  t.rows = static_cast<int>(W.rows());
  t.cols = static_cast<int>(W.cols());
  if (cfg.rescale) {
    const Eigen::VectorXf d = RescaleFactors(W, hd.diagonal()).cast<float>();  // exact: float-precision values
    t.incoherence.rescale.assign(d.data(), d.data() + d.size());
  }
  t.incoherence.incoherent = cfg.incoherence;
  t.incoherence.rotation = cfg.rotation;
  // U and V are stored in the model as seeds; derive two unrelated ones from cfg.seed.
  t.incoherence.seed_u = MixSeed(2 * cfg.seed);
  t.incoherence.seed_v = MixSeed(2 * cfg.seed + 1);
  return hd;
}

// Residuals of a scalar-grid rounding from its grid-unit row losses: real units are the
// row scale squared.
void ScalarResiduals(const Attempt& a, Eigen::VectorXd row_loss, Residuals* r) {
  if (r == nullptr || row_loss.size() == 0) return;
  r->row_loss = row_loss.cwiseProduct(a.transform.row_scale.cwiseAbs2());
  r->delta = FromGridUnits(a.codes, a.transform) - a.wp;
}

// Steps 5–6 and the rounding: picks the grid (tuning ρ if asked) and the codes. With
// `residuals`, fills them when the rounding provides its row losses (LDLQ on the unclipped
// target, one grid).
void RoundAttempt(const Rounder& rounder, const QuantConfig& cfg, double rho, Attempt* a, double* rho_used,
                  Residuals* residuals) {
  const int maxq = (1 << cfg.bits) - 1;
  const uint64_t round_seed = MixSeed(cfg.seed ^ 0x5DEECE66Dull);
  Eigen::VectorXd row_loss;
  // The residual identity needs the rounding's target to be the grid-unit weights themselves.
  Eigen::VectorXd* losses = residuals != nullptr && !cfg.clip_before_rounding ? &row_loss : nullptr;
  auto round_with = [&](LayerTransform* t, Eigen::VectorXd* l) {
    const Eigen::MatrixXd x = ToGridUnits(a->wp, *t);
    // Algorithm 1 step 6: the rounding target itself is clipped to the grid.
    if (!cfg.clip_before_rounding) return std::make_pair(rounder.Round(x, maxq, round_seed, l), x);
    return std::make_pair(rounder.Round(x.cwiseMax(0.0).cwiseMin(double(maxq)), maxq, round_seed, l), x);
  };
  if (!cfg.incoherence) {
    SetMinMaxGrid(a->wp, cfg.bits, &a->transform);
    a->codes = round_with(&a->transform, losses).first;
    *rho_used = 0.0;
    ScalarResiduals(*a, std::move(row_loss), residuals);
    return;
  }
  if (!cfg.range_tuning) {
    SetSymmetricGrid(a->wp, rho, cfg.bits, &a->transform);
    a->codes = round_with(&a->transform, losses).first;
    *rho_used = rho;
    ScalarResiduals(*a, std::move(row_loss), residuals);
    return;
  }
  // Range tuning: the loss in real units is scale² · (grid-unit loss against the
  // unclipped target), comparable across ρ because H' does not depend on ρ.
  double best = std::numeric_limits<double>::infinity();
  for (double mult : kRhoSearch) {
    LayerTransform t = a->transform;
    SetSymmetricGrid(a->wp, rho * mult, cfg.bits, &t);
    auto [codes, x] = round_with(&t, nullptr);
    const double loss = t.row_scale[0] * t.row_scale[0] * GridLoss(codes, x, a->hp);
    if (loss < best) {
      best = loss;
      a->codes = std::move(codes);
      a->transform.row_scale = t.row_scale;
      a->transform.row_zero = t.row_zero;
      *rho_used = rho * mult;
    }
  }
}

void ValidateInputs(const Eigen::MatrixXd& W, const Eigen::MatrixXd& H, const QuantConfig& cfg) {
  QUIP_CHECK_INPUT(cfg.bits >= 2 && cfg.bits <= 4, "quantization config", "bits must be 2, 3 or 4, got {}", cfg.bits);
  QUIP_CHECK_INPUT(cfg.damping >= 0.0 && std::isfinite(cfg.damping), "quantization config",
                   "damping must be a finite non-negative number, got {}", cfg.damping);
  QUIP_CHECK_INPUT(cfg.rg_passes >= 0, "quantization config", "rg_passes must be >= 0, got {}", cfg.rg_passes);
  QUIP_CHECK_INPUT(W.allFinite(), "weight", "contains NaN or Inf");
  QUIP_CHECK_INPUT(H.rows() == W.cols() && H.cols() == W.cols(), "Hessian", "expected {}x{}, got {}x{}", W.cols(),
                   W.cols(), H.rows(), H.cols());
  QUIP_CHECK_INPUT(H.allFinite(), "Hessian", "contains NaN or Inf");
  QUIP_CHECK_INPUT(H.diagonal().minCoeff() >= 0.0, "Hessian", "negative diagonal entry {}",
                   H.diagonal().minCoeff());
}

QuantizedMatrix ToQuantizedMatrix(const Attempt& a, int bits) {
  const LayerTransform& t = a.transform;
  QuantizedMatrix q;
  q.rows = t.rows;
  q.cols = t.cols;
  q.bits = bits;
  q.codes.resize(size_t(t.rows) * t.cols);
  ForEachInTiles(t.rows, t.cols, [&](Eigen::Index r, Eigen::Index c) {  // row-major from column-major
    q.codes[size_t(r) * t.cols + c] = static_cast<uint8_t>(a.codes(r, c));
  });
  q.row_scale.assign(t.row_scale.data(), t.row_scale.data() + t.rows);
  q.row_zero.assign(t.row_zero.data(), t.row_zero.data() + t.rows);
  q.incoherence = t.incoherence;
  return q;
}

// Vector codebooks round whole groups of columns (8 for E8P, 16-wide tiles for the
// trellis, which also cuts rows into 16s): partial groups get zero weight columns
// (pad_hessian: an H block decoupled from the real columns, so they get no feedback and
// give none) and zero rows. Inference multiplies those columns by zero activations and
// drops those rows' outputs.
Eigen::MatrixXd PadTo(const Eigen::MatrixXd& m, Eigen::Index rows, Eigen::Index cols, bool pad_hessian) {
  if (rows == m.rows() && cols == m.cols()) return m;
  Eigen::MatrixXd r = Eigen::MatrixXd::Zero(rows, cols);
  r.topLeftCorner(m.rows(), m.cols()) = m;
  if (pad_hessian) r.diagonal().tail(cols - m.cols()).setConstant(m.diagonal().mean());
  return r;
}
// Columns (and, for the trellis, rows) a vector codebook rounds.
int PaddedCols(Codebook codebook, int cols) {
  return codebook == Codebook::kTrellis ? trellis::TilePadded(cols) : E8PGroups(cols) * kE8PGroup;
}
int PaddedRows(Codebook codebook, int rows) {
  return codebook == Codebook::kTrellis ? trellis::TilePadded(rows) : rows;
}
Eigen::MatrixXd PadHessian(const Eigen::MatrixXd& h, Codebook codebook) {
  const int n = PaddedCols(codebook, int(h.cols()));
  return PadTo(h, n, n, true);
}
Eigen::MatrixXd PadWeights(const Eigen::MatrixXd& w, Codebook codebook) {
  return PadTo(w, PaddedRows(codebook, int(w.rows())), PaddedCols(codebook, int(w.cols())), false);
}

// QuIP#'s vector path: the weights in the incoherent basis are cut into groups of 8
// and rounded to the E8P codebook (+ a residual stage at 3/4 bits) by block LDLQ, or
// each group on its own when `ldl` is null. Scales are ρ·RMS(W'), rounded to float
// first so the codes are chosen against exactly the stored codebook.
QuantizedMatrix RoundE8P(const QuantConfig& cfg, const BlockLdlFactor* ldl, const Attempt& a, double* rho_used,
                         Residuals* residuals) {
  const double rms = RmsOf(a.wp);
  const double base = rms > 0.0 ? rms : 1.0;  // an all-zero matrix still needs a valid codebook
  const double rho1 = cfg.rho > 0.0 ? cfg.rho : DefaultE8PRho(cfg.bits);
  const double rho2 = cfg.rho2 > 0.0 ? cfg.rho2 : (cfg.bits == 3 ? kRvq3StageRho : kRvq4StageRho);
  std::vector<float> stage_scale{float(rho1 * base)};
  if (E8PStages(cfg.bits) == 2) stage_scale.push_back(float(rho2 * base));
  const std::unique_ptr<VectorCodebook> cb = E8PCodebookFromScales(cfg.bits, stage_scale);
  const Eigen::MatrixXd wp = PadWeights(a.wp, Codebook::kE8P);
  // Padded columns would add their own residuals: the identity is used without padding only.
  const bool residual_loss = residuals != nullptr && wp.cols() == a.wp.cols();
  VqResult r = ldl != nullptr ? RoundBlockLdlq(wp, *ldl, *cb, residual_loss ? &residuals->row_loss : nullptr)
                              : RoundNearestVector(wp, *cb);
  *rho_used = rho1;
  if (residual_loss && residuals->row_loss.size() > 0) residuals->delta = r.w_hat - a.wp;

  const LayerTransform& t = a.transform;
  QuantizedMatrix q;
  q.rows = t.rows;
  q.cols = t.cols;
  q.bits = cfg.bits;
  q.codebook = Codebook::kE8P;
  q.group_codes = std::move(r.codes);
  q.stage_scale = std::move(stage_scale);
  q.incoherence = t.incoherence;
  return q;
}

// QTIP's path: the same block LDLQ with 16-column groups, each group rounded in 16×16
// tiles of the bitshift trellis at scale ρ·RMS(W'), or each tile on its own without `ldl`.
QuantizedMatrix RoundTrellis(const QuantConfig& cfg, const BlockLdlFactor* ldl, const Attempt& a, double* rho_used,
                             Residuals* residuals) {
  const double rms = RmsOf(a.wp);
  const double rho = cfg.rho > 0.0 ? cfg.rho : DefaultTrellisRho(cfg.bits, cfg.trellis_code);
  const float scale = float(rho * (rms > 0.0 ? rms : 1.0));
  const bool hyb = cfg.trellis_code == trellis::Code::kHyb;
  const trellis::BitshiftTrellis t(trellis::kStateBits, cfg.bits, trellis::ValuesPerState(cfg.trellis_code),
                                   trellis::StateValues(cfg.trellis_code, hyb ? &trellis::DefaultHybTable() : nullptr));
  const Eigen::MatrixXd wp = PadWeights(a.wp, Codebook::kTrellis);
  const bool residual_loss = residuals != nullptr && wp.rows() == a.wp.rows() && wp.cols() == a.wp.cols();
  trellis::TrellisRounding r =
      ldl != nullptr ? trellis::RoundTrellisLdlq(wp, *ldl, t, scale, residual_loss ? &residuals->row_loss : nullptr)
                     : trellis::RoundTrellisNearest(wp, t, scale);
  *rho_used = rho;
  if (residual_loss && residuals->row_loss.size() > 0) residuals->delta = r.w_hat - a.wp;

  QuantizedMatrix q;
  q.rows = a.transform.rows;
  q.cols = a.transform.cols;
  q.bits = cfg.bits;
  q.codebook = Codebook::kTrellis;
  q.tile_words = std::move(r.words);
  q.stage_scale = {scale};
  q.trellis_code = cfg.trellis_code;
  if (hyb) q.code_table = trellis::DefaultHybTable().values;
  q.incoherence = a.transform.incoherence;
  return q;
}

// The reported proxy loss tr((Ŵ − W) H (Ŵ − W)ᵀ) (original basis, H undamped) from the
// rounding's residuals, O(mn(p+q)) instead of O(mn²). They give tr(Δ' H' Δ'ᵀ), which is
// tr(Δ H_d Δᵀ) for Δ = Ŵ − W_dz = Uᵀ Δ' V D̃⁻¹ (W_dz: W with the dead columns zeroed; U, V
// orthogonal). H_d = H_live + δ·I with δ the damping added, and H_live = H + Σ_dead e_i e_iᵀ
// (a dead input's row and column of H are zero, checked by the caller), so
//   loss = Σ_r row_loss_r − δ‖Δ‖² − Σ_dead ‖Δ_{:,i}‖²,
// and the dead columns of Ŵ − W do not count against H either. Δ's column norms need
// only Δ'·V·D̃⁻¹ (U drops out of them).
double LossFromResiduals(const Residuals& r, const LayerTransform& t, double damping_added,
                         const std::vector<int>& dead) {
  const Incoherence& inc = t.incoherence;
  Eigen::MatrixXd delta = inc.incoherent ? Rotation(inc.rotation, t.cols, inc.seed_v).RightMultiply(r.delta) : r.delta;
  Eigen::VectorXd col_norm2 = delta.colwise().squaredNorm().transpose();
  if (!inc.rescale.empty())
    for (int j = 0; j < t.cols; ++j) col_norm2[j] /= double(inc.rescale[size_t(j)]) * double(inc.rescale[size_t(j)]);
  double loss = r.row_loss.sum() - damping_added * col_norm2.sum();
  for (int i : dead) loss -= col_norm2[i];
  return loss;
}

}  // namespace

std::unique_ptr<VectorCodebook> E8PCodebookFromScales(int bits, const std::vector<float>& stage_scale) {
  QUIP_CHECK_INPUT(bits >= 2 && bits <= 4, "e8p codebook", "bits must be 2, 3 or 4, got {}", bits);
  QUIP_CHECK_INPUT(stage_scale.size() == size_t(E8PStages(bits)), "e8p codebook",
                   "{} bits need {} stage scale(s), got {}", bits, E8PStages(bits), stage_scale.size());
  for (float s : stage_scale)
    QUIP_CHECK_INPUT(std::isfinite(s) && s > 0.0f, "e8p codebook", "stage scale must be positive and finite, got {}",
                     s);
  // With rms = 1 the ρ arguments are the scales themselves (×1.0 is exact).
  return MakeE8PCodebook(bits, 1.0, stage_scale[0], stage_scale.size() > 1 ? stage_scale[1] : 0.0);
}

const char* RoundingName(Rounding r) {
  switch (r) {
    case Rounding::kNearest: return "near";
    case Rounding::kStochastic: return "stoch";
    case Rounding::kLdlq: return "ldlq";
    case Rounding::kOptq: return "optq";
    case Rounding::kLdlqRg: return "ldlq-rg";
  }
  return "?";
}

Rounding ParseRounding(const std::string& name) {
  for (Rounding r : {Rounding::kNearest, Rounding::kStochastic, Rounding::kLdlq, Rounding::kOptq, Rounding::kLdlqRg})
    if (name == RoundingName(r)) return r;
  Fail("rounding", "unknown method '{}' (near, stoch, ldlq, optq, ldlq-rg)", name);
}

double DefaultE8PRho(int bits) {
  QUIP_CHECK_INPUT(bits >= 2 && bits <= 4, "quantization config", "bits must be 2, 3 or 4, got {}", bits);
  return bits == 2 ? 1.15 : kE8PRho;
}

double DefaultTrellisRho(int bits, trellis::Code code) {
  QUIP_CHECK_INPUT(bits >= 2 && bits <= 4, "quantization config", "bits must be 2, 3 or 4, got {}", bits);
  // 2, 3, 4 bits.
  constexpr double k1Mad[] = {1.100, 1.069, 1.161}, k3Inst[] = {0.861, 0.888, 0.953}, kHyb[] = {1.085, 1.173, 1.317},
                   kHash6[] = {1.136, 1.215, 1.358}, kXor7[] = {1.055, 1.183, 1.256};
  switch (code) {
    case trellis::Code::k1Mad: return k1Mad[bits - 2];
    case trellis::Code::k3Inst: return k3Inst[bits - 2];
    case trellis::Code::kHyb: return kHyb[bits - 2];
    case trellis::Code::kHash6: return kHash6[bits - 2];
    case trellis::Code::kXor7: return kXor7[bits - 2];
  }
  return 1.0;
}

double DefaultRho(int bits) {
  QUIP_CHECK_INPUT(bits >= 2 && bits <= 4, "quantization config", "bits must be 2, 3 or 4, got {}", bits);
  return bits == 2 ? 1.8 : 2.4;
}

QuantizedMatrix QuantizeMatrix(const float* w, int rows, int cols, Eigen::MatrixXd H, const QuantConfig& cfg,
                               QuantStats* stats) {
  QUIP_CHECK_INPUT(rows > 0 && cols > 0, "weight", "bad shape {}x{}", rows, cols);
  // W from row-major floats and H's symmetric part, in tiles (core/tiles.h; the same values
  // as Map<RowMajor>.cast<double>() and 0.5 · (H + Hᵀ)).
  Eigen::MatrixXd w_orig_tiles(rows, cols);
  ForEachInTiles(rows, cols, [&](Eigen::Index i, Eigen::Index j) { w_orig_tiles(i, j) = double(w[i * cols + j]); });
  const Eigen::MatrixXd w_orig = std::move(w_orig_tiles);
  ValidateInputs(w_orig, H, cfg);
  SymmetricPartInPlace(H);
  const Eigen::MatrixXd h_orig = H;
  const double rho = cfg.rho > 0.0 ? cfg.rho : DefaultRho(cfg.bits);

  // Dead inputs (never active in calibration), as OPTQ handles them: their weights
  // cannot matter to the proxy loss, so zero them and give H a unit diagonal there.
  Eigen::MatrixXd W = w_orig;
  std::vector<int> dead;
  bool dead_rows_zero = true;  // as for a Gram matrix; LossFromResiduals relies on it
  for (int i = 0; i < cols; ++i)
    if (H(i, i) == 0.0) {
      dead_rows_zero = dead_rows_zero && (H.col(i).array() == 0.0).all();
      H(i, i) = 1.0;
      W.col(i).setZero();
      dead.push_back(i);
    }

  std::string note;
  if (!dead.empty()) note += fmt::format("{} dead input(s) zeroed; ", dead.size());
  if (cfg.range_tuning && !cfg.incoherence) note += "range tuning needs incoherence, ignored; ";
  // A size the chosen rotation cannot handle (rht without a Hadamard order) falls back
  // to the Kronecker transform for this matrix, and the report says so.
  QuantConfig effective = cfg;
  for (int n : rows == cols ? std::vector<int>{rows} : std::vector<int>{rows, cols})
    if (cfg.incoherence && !RotationSupports(cfg.rotation, n)) {
      note += fmt::format("no Hadamard matrix of order {}; ", n);
      effective.rotation = RotationKind::kKron;
    }
  if (effective.rotation != cfg.rotation) note += "fell back to the Kronecker transform; ";
  const bool vector = cfg.codebook != Codebook::kScalar;
  QUIP_CHECK_INPUT(!vector || cfg.rounding == Rounding::kLdlq || cfg.rounding == Rounding::kNearest,
                   "quantization config", "the {} codebook rounds with ldlq (block LDLQ) or near, not {}",
                   CodebookName(cfg.codebook), RoundingName(cfg.rounding));
  const int group = cfg.codebook == Codebook::kTrellis ? trellis::kTileSide : kE8PGroup;

  // Pre-process and factor H; a failed Cholesky is retried with more damping.
  Attempt a;
  double alpha = cfg.damping, rho_used = 0.0;
  bool prepared = false, retried = false;
  Rounder rounder(cfg.rounding, cfg.rg_passes);
  BlockLdlFactor block_ldl;
  auto prepare = [&](const Eigen::MatrixXd& hp) {
    if (!vector) return rounder.Prepare(hp);
    return cfg.rounding == Rounding::kNearest || ComputeBlockLdl(PadHessian(hp, cfg.codebook), group, &block_ldl);
  };
  double total = 0.0;  // tr(W H Wᵀ), the relative proxy loss's denominator
  for (int attempt = 0; attempt <= kDampingRetries; ++attempt) {
    if (attempt > 0) {
      alpha = std::max(cfg.damping, 1e-3) * std::pow(10.0, attempt);
      retried = true;
    }
    a = Attempt();
    const Eigen::MatrixXd hd = ChooseTransform(W, H, alpha, effective, &a);
    // H' and its factor (the longer chain) on this thread; W' and, once, tr(WHWᵀ) (from the
    // inputs alone) on an idle pool thread, so that a lone o_proj or down_proj does not
    // leave a core waiting (inline, in this order, when the pool is busy). The same
    // products as one after the other, so the same bits.
    bool factored = false;
    ThreadPool::Global().Run(2, [&](int64_t task) {
      if (task == 0) {
        {
          ScopedPhase phase("preprocess", HessianTransformFlop(effective, cols));
          a.hp = TransformHessian(hd, a.transform);
        }
        ScopedPhase phase("factor", FactorFlop(cfg, cols));
        factored = prepare(a.hp);
      } else {
        {
          ScopedPhase phase("preprocess", WeightTransformFlop(effective, rows, cols));
          a.wp = ToTransformedBasis(W, a.transform);
        }
        if (stats != nullptr && attempt == 0) {
          ScopedPhase phase("diagnostics", double(rows) * cols * cols);
          total = HessianTraceFloatPanels(w_orig, h_orig);
        }
      }
    });
    if (factored) {
      prepared = true;
      break;
    }
  }
  if (retried) note += prepared ? fmt::format("Cholesky failed, damping raised to {}; ", alpha) : "";
  if (!prepared) note += fmt::format("Cholesky failed even with damping {}: fell back to nearest rounding; ", alpha);

  QuantizedMatrix q;
  Residuals residuals;
  Residuals* want_residuals = stats != nullptr && dead_rows_zero ? &residuals : nullptr;
  std::optional<ScopedPhase> rounding_phase(std::in_place, "rounding", RoundingFlop(cfg, rows, cols));
  if (vector) {
    const BlockLdlFactor* ldl = prepared && cfg.rounding == Rounding::kLdlq ? &block_ldl : nullptr;
    q = cfg.codebook == Codebook::kTrellis ? RoundTrellis(effective, ldl, a, &rho_used, want_residuals)
                                           : RoundE8P(effective, ldl, a, &rho_used, want_residuals);
  } else {
    if (!prepared) {
      rounder = Rounder(Rounding::kNearest, 0);
      rounder.Prepare(a.hp);
    }
    RoundAttempt(rounder, cfg, rho, &a, &rho_used, want_residuals);
    q = ToQuantizedMatrix(a, cfg.bits);
  }
  rounding_phase.reset();

  if (stats != nullptr) {
    QuantStats s;
    {
      const bool from_residuals = residuals.row_loss.size() > 0;
      // tr(WHWᵀ) was formed beside the factor (above); the loss from the residuals (Δ'·V, a
      // third of the transforms) or, where the rounding gives none, an mn² pass over
      // Δ = Dequantize(q) − W (HessianTrace's value for one matrix is its value in a pair).
      ScopedPhase phase("diagnostics", from_residuals ? PreprocessFlop(effective, rows, cols) / 6
                                                      : 1.0 * rows * cols * cols + PreprocessFlop(effective, rows, cols) / 3);
      s.proxy_loss = from_residuals ? LossFromResiduals(residuals, a.transform, alpha * H.diagonal().mean(), dead)
                                    : HessianTrace(Dequantize(q) - w_orig, h_orig);
      s.relative_proxy_loss = total > 0.0 ? s.proxy_loss / total : 0.0;
      s.mu_w_before = IncoherenceMuW(w_orig);
      s.mu_w_after = IncoherenceMuW(a.wp);
    }
    if (cols <= cfg.mu_h_max_dim) {
      // Symmetric eigendecomposition with eigenvectors, about 9n³ each (Golub & Van Loan).
      ScopedPhase mu_h_phase("diagnostics_mu_h", 2 * 9.0 * cols * cols * cols);
      s.mu_h_before = IncoherenceMuH(h_orig);
      s.mu_h_after = IncoherenceMuH(a.hp);
    } else {
      s.mu_h_before = s.mu_h_after = std::numeric_limits<double>::quiet_NaN();
    }
    s.damping_retried = retried;
    s.rho = rho_used;
    s.damping = alpha;
    if (note.size() >= 2) note.resize(note.size() - 2);  // drop the trailing "; "
    s.note = note;
    *stats = std::move(s);
  }
  return q;
}

Eigen::MatrixXd Dequantize(const QuantizedMatrix& q) {
  if (q.codebook == Codebook::kTrellis) {
    QUIP_CHECK_INPUT(q.rows > 0 && q.cols > 0 && q.stage_scale.size() == 1, "quantized matrix",
                     "bad trellis matrix {}x{} with {} scales", q.rows, q.cols, q.stage_scale.size());
    const int rows = PaddedRows(q.codebook, q.rows), cols = PaddedCols(q.codebook, q.cols);
    const bool hyb = q.trellis_code == trellis::Code::kHyb;
    QUIP_CHECK_INPUT(!hyb || q.code_table.size() == 2u << trellis::kHybTableBits, "quantized matrix",
                     "the HYB table holds {} values", q.code_table.size());
    trellis::HybTable table{q.code_table};
    const trellis::BitshiftTrellis t(trellis::kStateBits, q.bits, trellis::ValuesPerState(q.trellis_code),
                                     trellis::StateValues(q.trellis_code, hyb ? &table : nullptr));
    QUIP_CHECK_INPUT(q.tile_words.size() == size_t(rows / trellis::kTileSide) * (cols / trellis::kTileSide) *
                                                trellis::TileWords(q.bits),
                     "quantized matrix", "{} trellis words for a {}x{} matrix", q.tile_words.size(), q.rows, q.cols);
    LayerTransform tr;
    tr.rows = q.rows;
    tr.cols = q.cols;
    tr.incoherence = q.incoherence;
    const Eigen::MatrixXd g = trellis::DecodeTrellisTiles(q.tile_words, rows, cols, t, q.stage_scale[0]);
    return FromTransformedBasis(g.topLeftCorner(q.rows, q.cols), tr);
  }
  if (q.codebook == Codebook::kE8P) {
    QUIP_CHECK_INPUT(q.rows > 0 && q.cols > 0, "quantized matrix", "bad e8p shape {}x{}", q.rows, q.cols);
    const std::unique_ptr<VectorCodebook> cb = E8PCodebookFromScales(q.bits, q.stage_scale);
    const int padded = E8PGroups(q.cols) * kE8PGroup;
    QUIP_CHECK_INPUT(q.group_codes.size() == size_t(q.rows) * E8PGroups(q.cols) * cb->codes_per_group(),
                     "quantized matrix", "expected {} group codes, got {}",
                     size_t(q.rows) * E8PGroups(q.cols) * cb->codes_per_group(), q.group_codes.size());
    LayerTransform t;
    t.rows = q.rows;
    t.cols = q.cols;
    t.incoherence = q.incoherence;
    const Eigen::MatrixXd g = DecodeVq(q.group_codes, q.rows, padded, *cb).leftCols(q.cols);
    return FromTransformedBasis(g, t);
  }
  const LayerTransform t = TransformOf(q);
  QUIP_CHECK_INPUT(q.codes.size() == size_t(q.rows) * q.cols, "quantized matrix", "expected {} codes, got {}",
                   size_t(q.rows) * q.cols, q.codes.size());
  Eigen::MatrixXd x(q.rows, q.cols);
  for (int r = 0; r < q.rows; ++r)
    for (int c = 0; c < q.cols; ++c) x(r, c) = q.codes[size_t(r) * q.cols + c];
  return FromGrid(x, t);
}

}  // namespace quip
