#include "train/adam.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace quip::train {

template <typename T>
Adam<T>::Adam(std::vector<Param<T>*> params, double beta1, double beta2, double eps)
    : params_(std::move(params)), beta1_(beta1), beta2_(beta2), eps_(eps) {
  for (const Param<T>* p : params_) {
    m_.emplace_back(p->value.size(), T(0));
    v_.emplace_back(p->value.size(), T(0));
  }
}

template <typename T>
void Adam<T>::Step(double lr) {
  ++t_;
  const double c1 = 1.0 - std::pow(beta1_, t_), c2 = 1.0 - std::pow(beta2_, t_);
  for (size_t i = 0; i < params_.size(); ++i) {
    Param<T>& p = *params_[i];
    const double step = lr * double(p.unit);
    // A stored rescale 1/m must stay finite and positive: m no lower than 1e-3 of its unit.
    const double floor = 1e-3 * double(p.unit);
    for (size_t j = 0; j < p.value.size(); ++j) {
      const double g = p.grad[j];
      m_[i][j] = T(beta1_ * m_[i][j] + (1 - beta1_) * g);
      v_[i][j] = T(beta2_ * v_[i][j] + (1 - beta2_) * g * g);
      double value = double(p.value[j]) - step * (m_[i][j] / c1) / (std::sqrt(v_[i][j] / c2) + eps_);
      if (p.positive) value = std::max(value, floor);
      p.value[j] = T(value);
    }
  }
}

double WarmupCosineRate(double lr, int steps, int step) {
  const int warmup = std::max(1, steps / 20);
  if (step < warmup) return lr * (step + 1) / warmup;
  const double progress = double(step - warmup) / std::max(1, steps - warmup);
  return lr * 0.5 * (1 + std::cos(std::numbers::pi * progress));
}

template class Adam<float>;
template class Adam<double>;

}  // namespace quip::train
