// The backward pass of src/train against central finite differences in double (the
// reference: (L(θ + h) − L(θ − h)) / 2h of the same forward pass, error O(h²)), on the tiny
// random model of tests/testing quantized by each method. Checked: the quantized and dense
// linear w.r.t. input, input multipliers and scales; a whole block w.r.t. its input (RMSNorm,
// RoPE, GQA causal attention, SwiGLU); the whole model's KL loss w.r.t. every parameter
// tensor (which also runs every input gradient of every later block and the head); the
// per-block tuning objective (MSE to the fp32 block's output) w.r.t. every block parameter.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <random>

#include "model/forward.h"
#include "pipeline/load.h"
#include "testing/quantized_folder.h"
#include "train/block_tune.h"
#include "train/train_model.h"

namespace quip::train {
namespace {

struct QuantizedCase {
  const char* method;
  int bits;
  const char* code = "";  // qtip's trellis code
};
// QTIP with the HYB code: its table is one more tensor of the whole model (kHybTableParam).
const QuantizedCase kCases[] = {{"quip", 2}, {"quipsharp", 2}, {"quipsharp", 3}, {"quipsharp", 4}, {"qtip", 2, "hyb"}};

std::string CaseName(const QuantizedCase& c) {
  return std::string(c.method) + "-" + std::to_string(c.bits) + (*c.code ? std::string("-") + c.code : "");
}

// A tiny quantized folder per case, written once.
const std::string& Folder(const QuantizedCase& c) {
  static std::map<std::string, std::string> folders;
  std::string& f = folders[CaseName(c)];
  if (f.empty()) f = testing::WriteTinyQuantizedFolder("train-grad-" + CaseName(c), c.method, c.bits, c.code);
  return f;
}

Mat<double> Random(int rows, int cols, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  Mat<double> m(rows, cols);
  for (int i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

// Worst |fd − analytic| / max|analytic| over a few entries of `values`
// (first, last and four drawn), with `grad` the analytic gradient and `loss` re-evaluating.
double WorstRelativeError(std::vector<double>& values, const std::vector<double>& grad,
                          const std::function<double()>& loss, double unit, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<size_t> idx{0, values.size() - 1};
  for (int i = 0; i < 4; ++i) idx.push_back(rng() % values.size());
  double gmax = 0;
  for (double g : grad) gmax = std::max(gmax, std::abs(g));
  if (gmax == 0) return 1.0;  // a tensor the loss does not reach: a bug, not a pass
  const double h = 1e-5 * unit;
  double worst = 0;
  for (size_t i : idx) {
    const double saved = values[i];
    values[i] = saved + h;
    const double plus = loss();
    values[i] = saved - h;
    const double minus = loss();
    values[i] = saved;
    const double fd = (plus - minus) / (2 * h);
    worst = std::max(worst, std::abs(fd - grad[i]) / gmax);
  }
  return worst;
}

// h = 1e-5·unit: truncation O(1e-10) relative; the loss's rounding (~1e-16 of a sum over
// vocab × tokens terms) divided by 2h gives absolute errors up to ~3e-10. Measured worst
// |fd − analytic| / max|analytic| over the whole model: 6.5e-7 (QTIP HYB 2-bit; its table 8.9e-9),
// ~1e-7 otherwise.
constexpr double kTolerance = 1e-6;

TEST(TrainGradientTest, QuantizedLinearInputAndParameters) {
  for (const QuantizedCase& c : kCases) {
    SCOPED_TRACE(CaseName(c));
    const Model model = LoadModel(Folder(c));
    // The HYB table, when the layer has one, as the model's tensor would be.
    Param<double> table;
    if (const StoredLinear* s = model.layers[0].q->stored_linear(); s && !s->code_table.empty())
      table.Init(kHybTableParam, std::vector<double>(s->code_table.begin(), s->code_table.end()));
    for (const Linear* layer : {model.layers[0].q.get(), model.layers[1].down.get(), model.lm_head.get()}) {
      TrainLinear<double> linear(*layer, "layer", table.value.empty() ? nullptr : &table);
      std::vector<Param<double>*> params = linear.Params();
      if (linear.quantized() && !table.value.empty()) params.push_back(&table);
      const Mat<double> x0 = Random(5, linear.cols(), 1), w = Random(5, linear.rows(), 2);
      Mat<double> x = x0;
      // L = Σ w ⊙ layer(x).
      auto loss = [&] {
        Mat<double> y;
        typename TrainLinear<double>::Saved saved;
        linear.Forward(x, y, saved);
        return (y.array() * w.array()).sum();
      };
      for (Param<double>* p : params) std::fill(p->grad.begin(), p->grad.end(), 0.0);
      Mat<double> y, dx;
      typename TrainLinear<double>::Saved saved;
      linear.Forward(x, y, saved);
      linear.Backward(w, saved, &dx);
      std::vector<double> xs(x.data(), x.data() + x.size()), dxs(dx.data(), dx.data() + dx.size());
      auto loss_x = [&] {
        x = Eigen::Map<Mat<double>>(xs.data(), x.rows(), x.cols());
        return loss();
      };
      EXPECT_LT(WorstRelativeError(xs, dxs, loss_x, 1.0, 3), kTolerance) << "input";
      x = x0;
      EXPECT_EQ(linear.Params().empty(), !linear.quantized());
      for (Param<double>* p : params)
        EXPECT_LT(WorstRelativeError(p->value, p->grad, loss, p->unit, 4), kTolerance) << p->name;
    }
  }
}

TEST(TrainGradientTest, BlockInput) {
  const QuantizedCase c{"quipsharp", 2};
  const Model model = LoadModel(Folder(c));
  const int ntok = 7;
  const RopeTable<double> rope(model.config, ntok);
  TrainBlock<double> block(model.config, model.layers[1], "model.layers.1.");
  const Mat<double> w = Random(ntok, model.config.dim, 6);
  std::vector<double> xs(size_t(ntok) * model.config.dim);
  {
    const Mat<double> x = Random(ntok, model.config.dim, 5);
    std::copy(x.data(), x.data() + x.size(), xs.begin());
  }
  auto loss = [&] {
    Mat<double> x = Eigen::Map<Mat<double>>(xs.data(), ntok, model.config.dim);
    typename TrainBlock<double>::Saved s;
    block.Forward(x, s, rope);
    return (x.array() * w.array()).sum();
  };
  Mat<double> x = Eigen::Map<Mat<double>>(xs.data(), ntok, model.config.dim);
  typename TrainBlock<double>::Saved s;
  block.Forward(x, s, rope);
  Mat<double> dx = w;
  block.Backward(dx, s, rope);
  const std::vector<double> dxs(dx.data(), dx.data() + dx.size());
  // Entries spread over tokens: the causal mask makes late tokens' inputs reach less.
  for (uint64_t seed = 10; seed < 14; ++seed) EXPECT_LT(WorstRelativeError(xs, dxs, loss, 1.0, seed), kTolerance);
}

TEST(TrainGradientTest, WholeModelKlEveryParameter) {
  for (const QuantizedCase& c : kCases) {
    SCOPED_TRACE(CaseName(c));
    const std::string folder = Folder(c);
    const Model student = LoadModel(folder);
    const Model teacher = LoadModel(folder + "/../fp32");
    std::vector<int> tokens{1};
    std::mt19937_64 rng(9);
    for (int i = 0; i < 11; ++i) tokens.push_back(int(rng() % uint64_t(student.config.vocab_size)));
    Session session(teacher, int(tokens.size()));
    const Mat<float> target =
        LogSoftmax(session.Feed(tokens, true).data(), int(tokens.size()), teacher.config.vocab_size);
    TrainModel<double> model(student, int(tokens.size()));
    model.ZeroGrad();
    const double kl = model.Loss(tokens, target, /*gradient=*/true);
    EXPECT_GT(kl, 0.0);
    auto loss = [&] {
      return model.Loss(tokens, target, /*gradient=*/false);
    };
    int checked = 0;
    double worst_seen = 0;
    for (Param<double>* p : model.Params()) {
      const double e = WorstRelativeError(p->value, p->grad, loss, p->unit, 7);
      EXPECT_LT(e, kTolerance) << p->name;
      if (p->name == kHybTableParam) std::printf("%s: HYB table error %.3g\n", CaseName(c).c_str(), e);
      worst_seen = std::max(worst_seen, e);
      ++checked;
    }
    // 2 norms + 7 linears × (input multipliers, scales, output multipliers) per block, the final
    // norm, and HYB's table.
    EXPECT_EQ(checked, student.config.n_layers * 23 + 1 + (*c.code ? 1 : 0));
    RecordProperty("worst_" + CaseName(c), std::to_string(worst_seen));
    std::printf("%s: worst error %.3g\n", CaseName(c).c_str(), worst_seen);
  }
}

// The compact targets' loss (top-k tokens and one bucket for the rest, train/train_model.h)
// w.r.t. every parameter tensor; with k = vocab it is the full KL.
TEST(TrainGradientTest, WholeModelTopKKlEveryParameter) {
  const QuantizedCase c{"quipsharp", 2};
  const Model student = LoadModel(Folder(c));
  const Model teacher = LoadModel(Folder(c) + "/../fp32");
  std::vector<int> tokens{1};
  std::mt19937_64 rng(12);
  for (int i = 0; i < 11; ++i) tokens.push_back(int(rng() % uint64_t(student.config.vocab_size)));
  Session session(teacher, int(tokens.size()));
  const Mat<float> full = LogSoftmax(session.Feed(tokens, true).data(), int(tokens.size()), teacher.config.vocab_size);
  const TopKTarget target = TopK(full, 5);
  TrainModel<double> model(student, int(tokens.size()));
  // k = vocab: no rest, the same loss as the full distribution's (to the summation order).
  const double full_kl = model.Loss(tokens, full, false);
  EXPECT_NEAR(model.Loss(tokens, TopK(full, student.config.vocab_size), false), full_kl, 1e-12 * full_kl);
  model.ZeroGrad();
  const double kl = model.Loss(tokens, target, /*gradient=*/true);
  EXPECT_GT(kl, 0.0);
  EXPECT_LT(kl, full_kl);  // coarsening a pair of distributions cannot raise their KL
  auto loss = [&] { return model.Loss(tokens, target, /*gradient=*/false); };
  double worst_seen = 0;
  for (Param<double>* p : model.Params()) {
    const double e = WorstRelativeError(p->value, p->grad, loss, p->unit, 13);
    EXPECT_LT(e, kTolerance) << p->name;
    worst_seen = std::max(worst_seen, e);
  }
  std::printf("top-5 targets: worst error %.3g\n", worst_seen);
}

// --block-tune's objective, mean (block(x) − fp32 block(x))², w.r.t. every parameter of the
// quantized block (its norms, and each linear's input/output multipliers and scales).
TEST(TrainGradientTest, BlockTuneObjectiveEveryParameter) {
  for (const QuantizedCase& c : kCases) {
    SCOPED_TRACE(CaseName(c));
    const Model student = LoadModel(Folder(c));
    const Model teacher = LoadModel(Folder(c) + "/../fp32");
    const int ntok = 9, dim = student.config.dim;
    const RopeTable<double> rope(student.config, ntok);
    TrainBlock<double> block(student.config, student.layers[1], "model.layers.1.");
    TrainBlock<double> fp32(teacher.config, teacher.layers[1], "model.layers.1.");
    const Mat<double> input = Random(ntok, dim, 21);
    Mat<double> target = input;
    typename TrainBlock<double>::Saved saved;
    fp32.Forward(target, saved, rope);
    std::vector<Param<double>*> params = block.Params();
    for (Param<double>* p : params) std::fill(p->grad.begin(), p->grad.end(), 0.0);
    const double mse = BlockMse(block, input, target, rope, /*gradient=*/true);
    EXPECT_GT(mse, 0.0);  // the rounded block differs from the fp32 one
    auto loss = [&] { return BlockMse(block, input, target, rope, /*gradient=*/false); };
    EXPECT_EQ(loss(), mse);
    ASSERT_EQ(params.size(), 23u);  // 2 norms + 7 linears × 3
    double worst_seen = 0;
    for (Param<double>* p : params) {
      const double e = WorstRelativeError(p->value, p->grad, loss, p->unit, 8);
      EXPECT_LT(e, kTolerance) << p->name;
      worst_seen = std::max(worst_seen, e);
    }
    std::printf("%s block objective: worst error %.3g\n", CaseName(c).c_str(), worst_seen);
  }
}

// Per-block activation checkpointing recomputes each block's forward pass in the backward
// pass with the same operations: the loss and every gradient equal the stored-activations
// run's bit for bit (the reference), in float as tuning runs it.
TEST(TrainGradientTest, BlockCheckpointingGivesTheSameGradient) {
  const QuantizedCase c{"quipsharp", 3};
  const Model student = LoadModel(Folder(c));
  const Model teacher = LoadModel(Folder(c) + "/../fp32");
  std::vector<int> tokens{1};
  std::mt19937_64 rng(4);
  for (int i = 0; i < 15; ++i) tokens.push_back(int(rng() % uint64_t(student.config.vocab_size)));
  Session session(teacher, int(tokens.size()));
  const Mat<float> target = LogSoftmax(session.Feed(tokens, true).data(), int(tokens.size()), teacher.config.vocab_size);
  TrainModel<float> stored(student, int(tokens.size()), /*checkpoint_blocks=*/false);
  TrainModel<float> recomputed(student, int(tokens.size()), /*checkpoint_blocks=*/true);
  stored.ZeroGrad();
  recomputed.ZeroGrad();
  EXPECT_EQ(stored.Loss(tokens, target, true), recomputed.Loss(tokens, target, true));
  const std::vector<Param<float>*> a = stored.Params(), b = recomputed.Params();
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k) EXPECT_EQ(a[k]->grad, b[k]->grad) << a[k]->name;
}

}  // namespace
}  // namespace quip::train
