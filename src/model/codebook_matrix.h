// G of a quantized linear layer (format/stored_linear.h): the codebook's product in the
// rotated basis, z = G x'. One class per codebook, each with its kernel; everything
// around it (D̃, the rotations, the kernel switch, profiling, the format) is the
// codebook-independent IncoherentLinear (model/incoherent_linear.h). A new codebook is one
// subclass here plus a case in MakeCodebookMatrix.
//
// Activations are [ntok, padded_cols()] row-major: the codebook's group size may round
// the columns up, and the padding columns hold zeros.
#pragma once

#include <memory>
#include <string>

#include "format/stored_linear.h"

namespace quip {

class CodebookMatrix {
 public:
  explicit CodebookMatrix(StoredLinear stored) : stored_(std::move(stored)) {}
  virtual ~CodebookMatrix() = default;

  const StoredLinear& stored() const { return stored_; }
  int rows() const { return stored_.rows; }
  virtual int padded_cols() const { return stored_.cols; }

  // Up to this many tokens run ProductFewTokens (the fused kernel on the packed codes);
  // more run ProductManyTokens.
  virtual int fused_max_tokens() const = 0;
  // Decoding: the fused kernel, codes decoded in registers (prepared, e.g. int8, activations).
  virtual void ProductFewTokens(const float* x, int ntok, float* y) const = 0;
  // Prompts: row tiles decoded to fp32 and multiplied with sgemm (kernels::TiledMatmul).
  virtual void ProductManyTokens(const float* x, int ntok, float* y) const;
  // Rows [r0, r0 + nr) of G as fp32, nr × padded_cols() (the fast decoder).
  virtual void DecodeRows(int r0, int nr, float* tile) const = 0;
  // The oracle: decoded by the codebook's definition with scalar code (QUIP_KERNEL=ref).
  virtual void ProductReference(const float* x, int ntok, float* y) const = 0;
  // Short name for reports ("quip-2bit", "e8p-3bit", ...).
  virtual std::string FormatName() const = 0;

 private:
  StoredLinear stored_;
};

// The codebook of `stored`, its fields validated (sizes, bit width).
std::unique_ptr<CodebookMatrix> MakeCodebookMatrix(StoredLinear stored);

}  // namespace quip
