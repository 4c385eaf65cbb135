// Mean squared error per weight of each 2/3/4-bit codebook on i.i.d. N(0,1) data (what
// incoherence processing makes the weights look like), at the scale that minimises it,
// next to the rate-distortion bound 2^(-2b). Prints one JSON object (bench/results/
// codebook_mse.json, rendered by tools/results_page.py).
//   scalar   QuIP's grid: 2^b uniform levels spanning [−s, s] (measured here)
//   e8p      QuIP#: E8P at 2 bits, E8P + one-bit E8 stage at 3, E8P + E8P at 4 (RVQ)
//   qtip     QTIP: a 16-bit bitshift trellis over 256-weight tiles with each computed code
//            (1MAD, 3INST, HYB; two-pass tail-biting), at its best scale
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "quant/bitshift_trellis.h"
#include "quant/block_ldlq.h"
#include "quant/golden_section.h"
#include "format/trellis_codes.h"
#include "format/seeded_random.h"

namespace {

constexpr int kVectors = 1 << 16;  // 2^19 weights: MSE to ~0.3 %
constexpr uint64_t kSeed = 2024;
constexpr int kTrellisTiles = 64;  // 16384 weights per estimate: MSE to ~1 %

// The uniform symmetric grid of quant/layer_transform.h (SetSymmetricGrid) as a codebook.
class UniformGrid final : public quip::VectorCodebook {
 public:
  UniformGrid(int bits, double s) : maxq_((1 << bits) - 1), step_(2.0 * s / maxq_), s_(s) {}
  int dim() const override { return 1; }
  int codes_per_group() const override { return 1; }
  double bits_per_weight() const override { return std::log2(double(maxq_ + 1)); }
  void Round(const double* in, double* out, uint32_t* idx) const override {
    const double code = std::fmin(std::fmax(std::nearbyint((in[0] + s_) / step_), 0.0), double(maxq_));
    idx[0] = uint32_t(code);
    out[0] = code * step_ - s_;
  }
  void Decode(const uint32_t* idx, double* out) const override { out[0] = idx[0] * step_ - s_; }

 private:
  int maxq_;
  double step_, s_;
};

}  // namespace

int main() {
  using namespace quip;
  nlohmann::json rows = nlohmann::json::array();
  const trellis::HybTable hyb = trellis::FitHybTable(kSeed);
  for (int bits : {2, 3, 4}) {
    double scalar_mse = 0, e8p_mse = 0;
    const double scalar_rho = TuneRho([bits](double s) { return std::make_unique<UniformGrid>(bits, s); }, 0.5, 4.0,
                                      8 * kVectors, kSeed, &scalar_mse);
    const std::unique_ptr<VectorCodebook> e8p = MakeE8PCodebook(bits, 1.0);  // default scales
    e8p_mse = GaussianMse(*e8p, kVectors, kSeed);
    rows.push_back({{"bits", bits},
                    {"bound", std::pow(2.0, -2.0 * bits)},
                    {"scalar_mse", scalar_mse},
                    {"scalar_best_range", scalar_rho},
                    {"e8p_mse", e8p_mse},
                    {"e8p_codebook", bits == 2 ? "E8P" : bits == 3 ? "E8P + one-bit E8" : "E8P + E8P"}});
    for (trellis::Code code : {trellis::Code::k1Mad, trellis::Code::k3Inst, trellis::Code::kHyb, trellis::Code::kHash6, trellis::Code::kXor7}) {
      const trellis::BitshiftTrellis t(trellis::kStateBits, bits, trellis::ValuesPerState(code),
                                       trellis::StateValues(code, &hyb));
      // The codes' values have variance ~1 (3INST ~1.55): the best scale is near 1/σ·(1 − ε).
      double mse = 0;
      const double scale = GoldenSectionMinimize(
          [&](double s) { return trellis::GaussianMse(t, s, kTrellisTiles / 4, 256, kSeed); }, 0.4, 1.6, 0.01);
      mse = trellis::GaussianMse(t, scale, kTrellisTiles, 256, kSeed + 1);
      rows.back()[std::string("qtip_") + trellis::CodeName(code) + "_mse"] = mse;
      rows.back()[std::string("qtip_") + trellis::CodeName(code) + "_scale"] = scale;
    }
  }
  std::printf("%s\n", nlohmann::json{{"weights_per_estimate", 8 * kVectors}, {"codebooks", rows}}.dump(2).c_str());
}
