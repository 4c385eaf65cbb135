// The random orthogonal transforms of incoherence processing, behind one type so
// the quantizer and inference do not care which one a layer uses:
//   kron  QuIP's Kronecker product of two Haar factors + permutation (kronecker.h),
//         O(n(p+q)) per vector, any n;
//   rht   QuIP#'s randomized Hadamard transform (hadamard.h), O(n log n) per vector,
//         n = K·2^k for the K that hadamard.h constructs.
// Both are regenerated bit for bit from (kind, n, seed); only those are stored.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <string>
#include <variant>

#include "format/hadamard.h"
#include "format/kronecker.h"
#include "format/stored_linear.h"

namespace quip {

// True when `kind` can be built for dimension n (rht needs a Hadamard order).
bool RotationSupports(RotationKind kind, int n);

class Rotation {
 public:
  // Throws quip::Error when !RotationSupports(kind, n).
  Rotation(RotationKind kind, int n, uint64_t seed);

  RotationKind kind() const { return kind_; }
  int n() const;
  // The Kronecker transform itself (null for rht), for kernels that specialise on it.
  const KroneckerTransform* kronecker() const { return std::get_if<KroneckerTransform>(&impl_); }
  // The Hadamard transform itself (null for kron).
  const HadamardTransform* hadamard() const { return std::get_if<HadamardTransform>(&impl_); }

  // x is [ntok, n] row-major; each row x_t ← Q x_t (Apply) or Qᵀ x_t (ApplyTransposed).
  void Apply(float* x, int64_t ntok) const;
  void ApplyTransposed(float* x, int64_t ntok) const;
  void Apply(double* x, int64_t ntok) const;
  void ApplyTransposed(double* x, int64_t ntok) const;

  Eigen::MatrixXd LeftMultiply(const Eigen::MatrixXd& m) const;             // Q·M
  Eigen::MatrixXd LeftMultiplyTransposed(const Eigen::MatrixXd& m) const;   // Qᵀ·M
  Eigen::MatrixXd RightMultiply(const Eigen::MatrixXd& m) const;            // M·Q
  Eigen::MatrixXd RightMultiplyTransposed(const Eigen::MatrixXd& m) const;  // M·Qᵀ

 private:
  RotationKind kind_;
  std::variant<KroneckerTransform, HadamardTransform> impl_;
};

}  // namespace quip
