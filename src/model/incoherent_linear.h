// A quantized linear layer, for every codebook: QuIP's post-processing (Algorithm 2) is
// folded into inference and the weights are never materialised for the whole layer:
//   x' = V (x / rescale)     D̃ and the rotation of the activations: Kronecker,
//                            O(n(p+q)), or randomized Hadamard, O(n log n) (format/rotation.h)
//   z  = G x'                the codebook's product (model/codebook_matrix.h)
//   y  = Uᵀ z                (⊙ output_scale when stored: fine-tuned folders)
// format/stored_linear.h has the meaning of every stored field.
//
// Two paths, chosen for the whole process: the fast one (kernels/: float rotations on the
// thread pool, the codebook's fused kernel for few tokens, decoded tiles + sgemm for
// many) and the reference one (format/'s rotations, the codebook decoded by its
// definition), kept for tests and selectable at run time: QUIP_KERNEL=ref in the
// environment, or IncoherentLinear::SetKernel.
#pragma once

#include <memory>
#include <optional>

#include "format/rotation.h"
#include "format/stored_linear.h"
#include "kernels/rotation.h"
#include "model/codebook_matrix.h"
#include "model/linear.h"

namespace quip {

enum class QuantKernel { kFast, kReference };
const char* QuantKernelName(QuantKernel kernel);  // "fast", "ref"

// Time spent in IncoherentLinear::Forward, either path (all threads' calls summed), when enabled:
// how much of a token goes to the rotations versus the codebook's product.
struct IncoherentLinearProfile {
  int64_t calls = 0;
  double rotate_seconds = 0;  // x/rescale, V x', U^T z
  double matmul_seconds = 0;  // G x'
};

class IncoherentLinear final : public Linear {
 public:
  // Process-wide kernel choice (default: kFast unless QUIP_KERNEL=ref).
  static void SetKernel(QuantKernel kernel);
  static QuantKernel Kernel();
  static void EnableProfiling(bool on);
  static IncoherentLinearProfile Profile();
  static void ResetProfile();

  // Validates the fields against each other (sizes, the rotation fits the shape).
  explicit IncoherentLinear(StoredLinear stored);

  void Forward(const float* x, int ntok, float* y) const override;
  void ForwardReference(const float* x, int ntok, float* y) const;
  int64_t WeightBytes() const override { return stored().StoredBytes(); }
  std::string Format() const override { return g_->FormatName(); }
  const StoredLinear* stored_linear() const override { return &stored(); }

  const StoredLinear& stored() const { return g_->stored(); }
  const CodebookMatrix& codebook_matrix() const { return *g_; }

 private:
  // Either path, timed into the profile when it is enabled.
  void Run(const float* x, int ntok, float* y, bool fast) const;
  // x' = V (x / rescale) for ntok tokens into a per-thread [ntok, padded_cols] buffer.
  const float* RotateInput(const float* x, int ntok, bool fast) const;

  std::unique_ptr<CodebookMatrix> g_;
  std::vector<float> inv_rescale_;
  std::optional<Rotation> u_, v_;                         // reference path
  std::optional<kernels::FastRotation> fast_u_, fast_v_;  // fast path
};

}  // namespace quip
