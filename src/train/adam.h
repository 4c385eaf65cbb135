// Adam (Kingma & Ba) over train::Param tensors. Each tensor's step is scaled by its
// `unit` (typical magnitude at the start), so one learning rate serves norm gains (~1),
// input multipliers and codebook scales (~0.01) alike: the rate is a relative change.
#pragma once

#include <vector>

#include "train/train_linear.h"

namespace quip::train {

template <typename T>
class Adam {
 public:
  explicit Adam(std::vector<Param<T>*> params, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8);
  // One update with the parameters' current gradients (not cleared).
  void Step(double lr);
  int steps() const { return t_; }

  // The moments, for checkpoints: m and v of every parameter, in order.
  std::vector<std::vector<T>>& first_moments() { return m_; }
  std::vector<std::vector<T>>& second_moments() { return v_; }
  void set_steps(int t) { t_ = t; }

 private:
  std::vector<Param<T>*> params_;
  double beta1_, beta2_, eps_;
  int t_ = 0;
  std::vector<std::vector<T>> m_, v_;
};

// The learning rate of step `step` in [0, steps): linear warm-up over the first 5% of the
// steps, then a cosine to zero (end-to-end and per-block tuning share it).
double WarmupCosineRate(double lr, int steps, int step);

}  // namespace quip::train
