#include "format/rotation.h"

#include "core/error.h"

namespace quip {
namespace {

std::variant<KroneckerTransform, HadamardTransform> Build(RotationKind kind, int n, uint64_t seed) {
  QUIP_CHECK_INPUT(n > 0, "rotation", "dimension must be positive, got {}", n);
  if (kind == RotationKind::kKron) return KroneckerTransform(n, seed);
  QUIP_CHECK_INPUT(IsHadamardSupported(n), "rotation", "no Hadamard matrix for dimension {} (supported: K·2^k with K in {})",
                   n, SupportedHadamardOrdersText());
  return HadamardTransform(n, seed);
}

}  // namespace

bool RotationSupports(RotationKind kind, int n) {
  return n > 0 && (kind == RotationKind::kKron || IsHadamardSupported(n));
}

Rotation::Rotation(RotationKind kind, int n, uint64_t seed) : kind_(kind), impl_(Build(kind, n, seed)) {}

int Rotation::n() const {
  return std::visit([](const auto& t) { return t.n(); }, impl_);
}
void Rotation::Apply(float* x, int64_t ntok) const {
  std::visit([&](const auto& t) { t.Apply(x, ntok); }, impl_);
}
void Rotation::ApplyTransposed(float* x, int64_t ntok) const {
  std::visit([&](const auto& t) { t.ApplyTransposed(x, ntok); }, impl_);
}
void Rotation::Apply(double* x, int64_t ntok) const {
  std::visit([&](const auto& t) { t.Apply(x, ntok); }, impl_);
}
void Rotation::ApplyTransposed(double* x, int64_t ntok) const {
  std::visit([&](const auto& t) { t.ApplyTransposed(x, ntok); }, impl_);
}
Eigen::MatrixXd Rotation::LeftMultiply(const Eigen::MatrixXd& m) const {
  return std::visit([&](const auto& t) { return t.LeftMultiply(m); }, impl_);
}
Eigen::MatrixXd Rotation::LeftMultiplyTransposed(const Eigen::MatrixXd& m) const {
  return std::visit([&](const auto& t) { return t.LeftMultiplyTransposed(m); }, impl_);
}
Eigen::MatrixXd Rotation::RightMultiply(const Eigen::MatrixXd& m) const {
  return std::visit([&](const auto& t) { return t.RightMultiply(m); }, impl_);
}
Eigen::MatrixXd Rotation::RightMultiplyTransposed(const Eigen::MatrixXd& m) const {
  return std::visit([&](const auto& t) { return t.RightMultiplyTransposed(m); }, impl_);
}

}  // namespace quip
