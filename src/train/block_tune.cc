// GCC 12 reports the AVX-512 intrinsics inside Eigen's double-precision gemm packing
// (instantiated here for the double checks) as maybe-uninitialized: a false positive.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include "train/block_tune.h"

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/parallel.h"
#include "train/adam.h"
#include "train/train_block.h"

namespace quip::train {

template <typename T>
double BlockMse(TrainBlock<T>& block, const Mat<T>& input, const Mat<T>& target, const RopeTable<T>& rope,
                bool gradient) {
  typename TrainBlock<T>::Saved saved;
  Mat<T> x = input;
  block.Forward(x, saved, rope);
  Mat<T> diff = x - target;
  const double mse = diff.template cast<double>().squaredNorm() / double(diff.size());
  if (gradient) {
    diff *= T(2.0 / double(diff.size()));
    block.Backward(diff, saved, rope);
  }
  return mse;
}

BlockTuneResult TuneBlock(const LlamaConfig& config, LayerWeights& layer, const LayerWeights& original,
                          std::span<const float> inputs, std::span<const float> original_outputs, int windows,
                          int length, const BlockTuneOptions& o, std::vector<StorageOwner>& owners,
                          const std::string& prefix) {
  const auto start = std::chrono::steady_clock::now();
  const int dim = config.dim;
  QUIP_ASSERT(inputs.size() == size_t(windows) * length * dim && o.steps > 0);
  QUIP_CHECK_INPUT(windows >= 2, "--block-tune", "needs at least 2 calibration windows (one held out), got {}",
                   windows);
  // At most a quarter of the windows are held out, at least one.
  const int valid = std::clamp(o.valid_windows, 1, std::max(1, windows / 4)), train = windows - valid;
  const RopeTable<float> rope(config, length);
  const TrainBlock<float> fp32(config, original, prefix);
  TrainBlock<float> block(config, layer, prefix);
  auto input = [&](int w) { return Eigen::Map<const Mat<float>>(&inputs[size_t(w) * length * dim], length, dim); };

  // The fp32 block's output on the quantized stream (QuIP#'s target), or the original stream's.
  std::vector<Mat<float>> target(windows);
  QUIP_ASSERT(!o.original_stream || original_outputs.size() == inputs.size());
  ParallelFor(windows, [&](int64_t w) {
    if (o.original_stream) {
      target[w] = Eigen::Map<const Mat<float>>(&original_outputs[size_t(w) * length * dim], length, dim);
      return;
    }
    typename TrainBlock<float>::Saved saved;
    target[w] = input(int(w));
    fp32.Forward(target[w], saved, rope);
  });
  double target_sq = 0;
  for (int w = train; w < windows; ++w) target_sq += target[w].cast<double>().squaredNorm();
  // Held-out MSE; each window's in its own slot, added in window order (any thread count).
  auto valid_mse = [&] {
    std::vector<double> err(valid);
    ParallelFor(valid, [&](int64_t i) { err[i] = BlockMse<float>(block, input(train + int(i)), target[train + i], rope, false); });
    double sum = 0;
    for (double e : err) sum += e;
    return sum / valid;
  };

  BlockTuneResult r;
  r.target_mean_square = target_sq / (double(valid) * length * dim);
  r.mse_before = r.mse_after = valid_mse();
  const std::vector<Param<float>*> params = block.Params();
  std::vector<std::vector<float>> best;
  for (const Param<float>* p : params) best.push_back(p->value);
  Adam<float> adam(params);
  for (int step = 0; step < o.steps; ++step) {
    const int w = step % train;
    for (Param<float>* p : params) std::fill(p->grad.begin(), p->grad.end(), 0.0f);
    BlockMse<float>(block, input(w), target[w], rope, true);
    adam.Step(WarmupCosineRate(o.lr, o.steps, step));
    if ((step + 1) % o.eval_every == 0 || step + 1 == o.steps) {
      const double mse = valid_mse();
      if (mse < r.mse_after) {
        r.mse_after = mse;
        r.best_step = step + 1;
        for (size_t k = 0; k < params.size(); ++k) best[k] = params[k]->value;
      }
    }
  }
  if (r.best_step > 0) {  // else the block stays as rounded
    for (size_t k = 0; k < params.size(); ++k) params[k]->value = best[k];
    block.ExportTo(layer, owners);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

template double BlockMse(TrainBlock<float>&, const Mat<float>&, const Mat<float>&, const RopeTable<float>&, bool);
template double BlockMse(TrainBlock<double>&, const Mat<double>&, const Mat<double>&, const RopeTable<double>&, bool);

}  // namespace quip::train
