#include "bench/synthetic_model.h"

#include <Eigen/Dense>
#include <cmath>
#include <vector>

#include "core/parallel.h"
#include "format/seeded_random.h"
#include "format/trellis_tiles.h"
#include "model/linear.h"
#include "pipeline/quantize_model.h"
#include "quant/quantize.h"

namespace quip::bench {
namespace {

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

TensorView RandomTensor(std::vector<int64_t> shape, float half_width, uint64_t seed, Model& model) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  constexpr int64_t kChunk = 1 << 20;
  ParallelFor((n + kChunk - 1) / kChunk, [&](int64_t chunk) {
    uint64_t state = seed * 0x2545f4914f6cdd1dull + uint64_t(chunk);
    const int64_t end = std::min(n, (chunk + 1) * kChunk);
    for (int64_t i = chunk * kChunk; i < end; ++i)
      v[size_t(i)] = half_width * (float(SplitMix64(state) >> 40) * (2.0f / 16777216.0f) - 1.0f);
  });
  return OwnFloats(std::move(v), std::move(shape), model.owners);
}

TensorView Ones(int64_t n, Model& model) { return OwnFloats(std::vector<float>(size_t(n), 1.0f), {n}, model.owners); }

}  // namespace

Model MakeRandomModel(const LlamaConfig& c, uint64_t seed) {
  Model m;
  m.config = c;
  m.source = "synthetic";
  m.format = "synthetic-f32";
  const float hw = 0.02f * std::sqrt(3.0f);
  uint64_t s = seed * 1000;
  m.token_embedding = RandomTensor({c.vocab_size, c.dim}, hw, ++s, m);
  auto linear = [&](int out, int in) { return std::make_unique<DenseLinear>(RandomTensor({out, in}, hw, ++s, m)); };
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights w;
    w.attn_norm = Ones(c.dim, m);
    w.ffn_norm = Ones(c.dim, m);
    w.q = linear(c.q_dim(), c.dim);
    w.k = linear(c.kv_dim(), c.dim);
    w.v = linear(c.kv_dim(), c.dim);
    w.o = linear(c.dim, c.q_dim());
    w.gate = linear(c.hidden_dim, c.dim);
    w.up = linear(c.hidden_dim, c.dim);
    w.down = linear(c.dim, c.hidden_dim);
    m.layers.push_back(std::move(w));
  }
  m.final_norm = Ones(c.dim, m);
  m.lm_head = linear(c.vocab_size, c.dim);
  return m;
}

namespace {

QuantizedMatrix RandomTrellisMatrix(int rows, int cols, const SyntheticFormat& format, uint64_t seed) {
  QuantizedMatrix q;
  q.rows = rows;
  q.cols = cols;
  q.bits = format.bits;
  q.codebook = Codebook::kTrellis;
  q.trellis_code = format.code;
  if (format.code == trellis::Code::kHyb) q.code_table = trellis::DefaultHybTable().values;
  q.stage_scale = {0.02f};  // the weights' standard deviation; the codes have unit variance
  q.tile_words.resize(size_t(trellis::TilePadded(rows) / trellis::kTileSide) *
                      (trellis::TilePadded(cols) / trellis::kTileSide) * trellis::TileWords(format.bits));
  SeededRandom rng(MixSeed(seed));
  for (uint32_t& w : q.tile_words) w = uint32_t(rng.Bits());
  q.incoherence.incoherent = true;
  q.incoherence.rotation = format.rotation;
  q.incoherence.seed_u = MixSeed(2 * seed);
  q.incoherence.seed_v = MixSeed(2 * seed + 1);
  return q;
}

}  // namespace

Model QuantizeNearIncoherent(const Model& src, const SyntheticFormat& format, int distinct_layers, uint64_t seed) {
  const int bits = format.bits;
  Model m;
  m.config = src.config;
  m.source = src.source;
  m.format = src.format + "-near-incp-" + std::to_string(bits) + "bit";
  m.owners = src.owners;  // embedding, norms and lm_head are shared views
  m.token_embedding = src.token_embedding;
  m.final_norm = src.final_norm;
  const auto* head = dynamic_cast<const DenseLinear*>(src.lm_head.get());
  m.lm_head = std::make_unique<DenseLinear>(head->weight());

  const int n_layers = src.config.n_layers;
  distinct_layers = std::clamp(distinct_layers, 1, n_layers);
  // The distinct layers' matrices, quantized in parallel (one per task).
  std::vector<QuantizedMatrix> q(size_t(distinct_layers) * 7);
  ParallelFor(int64_t(q.size()), [&](int64_t i) {
    const LayerWeights& w = src.layers[size_t(i / 7)];
    const Linear* slots[] = {w.q.get(), w.k.get(), w.v.get(), w.o.get(), w.gate.get(), w.up.get(), w.down.get()};
    const auto* dense = dynamic_cast<const DenseLinear*>(slots[i % 7]);
    QuantConfig cfg;
    cfg.bits = bits;
    cfg.rounding = Rounding::kNearest;
    cfg.incoherence = true;
    cfg.rotation = format.rotation;
    cfg.codebook = format.codebook;
    cfg.rescale = format.codebook == Codebook::kScalar;  // QuIP# has no D̃
    cfg.seed = seed * 7919 + uint64_t(i);
    const int rows = dense->out_features(), cols = dense->in_features();
    if (format.codebook == Codebook::kTrellis) {
      q[size_t(i)] = RandomTrellisMatrix(rows, cols, format, cfg.seed);
      return;
    }
    q[size_t(i)] = QuantizeMatrix(dense->weight().data, rows, cols, Eigen::MatrixXd::Identity(cols, cols), cfg, nullptr);
  });
  for (int l = 0; l < n_layers; ++l) {
    const QuantizedMatrix* ql = &q[size_t(l % distinct_layers) * 7];
    LayerWeights w;
    w.attn_norm = src.layers[l].attn_norm;
    w.ffn_norm = src.layers[l].ffn_norm;
    w.q = MakeQuantizedLinear(ql[0]);
    w.k = MakeQuantizedLinear(ql[1]);
    w.v = MakeQuantizedLinear(ql[2]);
    w.o = MakeQuantizedLinear(ql[3]);
    w.gate = MakeQuantizedLinear(ql[4]);
    w.up = MakeQuantizedLinear(ql[5]);
    w.down = MakeQuantizedLinear(ql[6]);
    m.layers.push_back(std::move(w));
  }
  return m;
}

}  // namespace quip::bench
