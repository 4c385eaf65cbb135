#include "quant/trellis_ldlq.h"

#include "core/error.h"
#include "core/parallel.h"

namespace quip::trellis {
namespace {

// Rounds the 16-column group at k0 (its m×16 target) tile by tile into `rounded` and the
// tiles' words (tile index i·(n/16) + k0/16).
void RoundGroup(const Eigen::MatrixXd& target, int k0, const BitshiftTrellis& t, double scale, int n,
                Eigen::Ref<Eigen::MatrixXd> rounded, std::vector<uint32_t>* words) {
  const int m = int(target.rows()), row_blocks = m / kTileSide, words_per_tile = TileWords(t.bits());
  const int steps = kTileWeights / t.values_per_step();
  ParallelFor(row_blocks, [&](int64_t i) {
    float x[kTileWeights];
    for (int r = 0; r < kTileSide; ++r)
      for (int c = 0; c < kTileSide; ++c) x[r * kTileSide + c] = float(target(i * kTileSide + r, c) / scale);
    std::vector<uint32_t> states(steps);
    t.QuantizeTailBiting(x, kTileWeights, states.data());
    for (int s = 0; s < steps; ++s)
      for (int k = 0; k < t.values_per_step(); ++k) {
        const int e = s * t.values_per_step() + k;
        rounded(i * kTileSide + e / kTileSide, e % kTileSide) = scale * double(t.Value(states[s], k));
      }
    const std::vector<uint32_t> packed = t.Pack(states.data(), steps);
    const size_t tile = size_t(i) * (n / kTileSide) + k0 / kTileSide;
    std::copy(packed.begin(), packed.end(), words->begin() + tile * words_per_tile);
  });
}

void CheckShape(const Eigen::MatrixXd& W) {
  QUIP_ASSERT(W.rows() % kTileSide == 0 && W.cols() % kTileSide == 0 && W.rows() > 0 && W.cols() > 0);
}

}  // namespace

TrellisRounding RoundTrellisLdlq(const Eigen::MatrixXd& W, const BlockLdlFactor& f, const BitshiftTrellis& t,
                                 double scale, Eigen::VectorXd* row_loss) {
  CheckShape(W);
  QUIP_ASSERT(f.g == kTileSide);
  const int m = int(W.rows()), n = int(W.cols());
  TrellisRounding r;
  r.words.assign(size_t(m / kTileSide) * (n / kTileSide) * TileWords(t.bits()), 0u);
  r.w_hat = RoundBlockLdlqWith(W, f, [&](int k0, const Eigen::MatrixXd& v, Eigen::Ref<Eigen::MatrixXd> rounded) {
    RoundGroup(v, k0, t, scale, n, rounded, &r.words);
  }, row_loss);
  return r;
}

TrellisRounding RoundTrellisNearest(const Eigen::MatrixXd& W, const BitshiftTrellis& t, double scale) {
  CheckShape(W);
  const int m = int(W.rows()), n = int(W.cols());
  TrellisRounding r;
  r.words.assign(size_t(m / kTileSide) * (n / kTileSide) * TileWords(t.bits()), 0u);
  r.w_hat.resize(m, n);
  for (int k0 = 0; k0 < n; k0 += kTileSide) {
    const Eigen::MatrixXd group = W.middleCols(k0, kTileSide);
    RoundGroup(group, k0, t, scale, n, r.w_hat.middleCols(k0, kTileSide), &r.words);
  }
  return r;
}

Eigen::MatrixXd DecodeTrellisTiles(const std::vector<uint32_t>& words, int rows, int cols, const BitshiftTrellis& t,
                                   double scale) {
  QUIP_ASSERT(rows % kTileSide == 0 && cols % kTileSide == 0);
  const int words_per_tile = TileWords(t.bits()), steps = kTileWeights / t.values_per_step();
  QUIP_ASSERT(words.size() == size_t(rows / kTileSide) * (cols / kTileSide) * words_per_tile);
  Eigen::MatrixXd w(rows, cols);
  std::vector<uint32_t> states(steps);
  for (int i = 0; i < rows / kTileSide; ++i)
    for (int j = 0; j < cols / kTileSide; ++j) {
      t.Unpack(&words[(size_t(i) * (cols / kTileSide) + j) * words_per_tile], steps, states.data());
      for (int s = 0; s < steps; ++s)
        for (int k = 0; k < t.values_per_step(); ++k) {
          const int e = s * t.values_per_step() + k;
          w(i * kTileSide + e / kTileSide, j * kTileSide + e % kTileSide) = scale * double(t.Value(states[s], k));
        }
    }
  return w;
}

}  // namespace quip::trellis
