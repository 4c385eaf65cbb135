// RunBlock's observer contract, which calibration relies on: every linear input is
// shown once, in block order, with its width, before the linear is applied; StopAfter
// ends the block right there.
#include <gtest/gtest.h>

#include <optional>
#include <random>
#include <vector>

#include "model/forward.h"
#include "pipeline/load.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {

class RecordingObserver final : public LinearInputObserver {
 public:
  explicit RecordingObserver(std::optional<LinearInput> stop) : stop_(stop) {}
  void Observe(int layer, LinearInput which, const float*, int ntok, int width) override {
    seen.push_back({layer, which, ntok, width});
  }
  bool StopAfter(LinearInput which) const override { return stop_ && which == *stop_; }
  struct Seen {
    int layer;
    LinearInput which;
    int ntok, width;
    bool operator==(const Seen&) const = default;
  };
  std::vector<Seen> seen;

 private:
  std::optional<LinearInput> stop_;
};

TEST(Forward, ObserverSeesEveryLinearInputInOrderAndCanStopTheBlock) {
  const LlamaConfig c = testing::TinyConfig();
  const std::string dir = testing::MakeTempDir("observer");
  testing::WriteHfFolder(testing::RandomWeights(c, 3), dir);
  const Model model = LoadModel(dir);
  const int ntok = 9;
  std::vector<float> x0(size_t(ntok) * c.dim);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal;
  for (float& v : x0) v = normal(rng);

  KvCache cache(model.config, ntok);
  ForwardScratch scratch(model.config, ntok);
  using S = RecordingObserver::Seen;
  RecordingObserver all(std::nullopt);
  std::vector<float> x = x0;
  RunBlock(model, 1, x.data(), ntok, 0, cache, scratch, &all);
  EXPECT_EQ(all.seen, (std::vector<S>{{1, LinearInput::kQkv, ntok, c.dim},
                                      {1, LinearInput::kO, ntok, c.q_dim()},
                                      {1, LinearInput::kGateUp, ntok, c.dim},
                                      {1, LinearInput::kDown, ntok, c.hidden_dim}}));
  EXPECT_NE(x, x0);

  // Stopping after o_proj's input: nothing after it runs, so the residual stream is untouched.
  RecordingObserver stop(LinearInput::kO);
  x = x0;
  RunBlock(model, 1, x.data(), ntok, 0, cache, scratch, &stop);
  EXPECT_EQ(stop.seen, (std::vector<S>{{1, LinearInput::kQkv, ntok, c.dim}, {1, LinearInput::kO, ntok, c.q_dim()}}));
  EXPECT_EQ(x, x0);
}

}  // namespace
}  // namespace quip
