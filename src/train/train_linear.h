// One linear layer of the model in training form: y = layer(x) with its backward pass,
// for fine-tuning after rounding (docs/finetune.md).
//
// A quantized layer (model/incoherent_linear.h) computes y = diag(o) Uᵀ G V diag(m) x with
//   m  the input multipliers: D̃⁻¹ times QuIP#'s input sign vector taken as real values
//      (V = H diag(s)/√n, so diag(s)·diag(1+δ) folds into D̃ exactly); stored as rescale = 1/m
//   G  = Σ_k s_k B_k (E8P: one scale per stage) or diag(scale)·B (scalar grid: one per row),
//      B decoded from the frozen codes with unit scales when needed (inside Forward and
//      Backward, then dropped: only the codes are kept). QTIP's HYB code: B[i][j] =
//      ±table[e(i, j)] (format/trellis_tiles.h HybTileEntries), linear in the model's table.
//   o  the output multipliers: Uᵀ's sign vector as real values, y ← o ⊙ (Uᵀ z), stored as
//      output_scale (format/stored_linear.h)
// Trainable: m, the scales and o, and the HYB table when the caller passes it as a Param (one
// per model, shared by every HYB layer). The codes, the rotations' seeds and dense layers stay frozen.
//
// Templated on the scalar: float for training, double for the finite-difference checks.
#pragma once

#include <Eigen/Dense>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "format/rotation.h"
#include "format/stored_linear.h"
#include "kernels/rotation.h"
#include "model/codebook_matrix.h"
#include "model/linear.h"

namespace quip::train {

template <typename T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A trainable tensor and the gradient Backward accumulates into it. `unit` is its typical
// magnitude at the start (the optimizer's steps are relative to it).
template <typename T>
struct Param {
  std::string name;
  std::vector<T> value, grad;
  T unit = 1;
  // Keeps the value strictly positive (a stored 1/m must be finite and > 0).
  bool positive = false;
  void Init(std::string n, std::vector<T> v, bool keep_positive = false);
};

template <typename T>
class TrainLinear {
 public:
  // What Forward keeps for Backward.
  struct Saved {
    Mat<T> x;                   // the input
    Mat<T> rotated;             // V diag(m) x (quantized layers)
    std::vector<Mat<T>> stage;  // B_k · rotated per stage (per-row scales: the one B · rotated)
    Mat<T> unscaled;            // Uᵀ z, before the output multipliers
  };

  TrainLinear() = default;
  // `code_table`: the model's HYB table as a trainable tensor (owned by the caller, shared by
  // every HYB layer; its gradient accumulates there), or null to keep the stored table frozen.
  // The layer's codes are borrowed from `layer`, which must outlive this.
  TrainLinear(const Linear& layer, const std::string& name, Param<T>* code_table = nullptr);

  int rows() const { return rows_; }
  int cols() const { return cols_; }
  bool quantized() const { return stored_.has_value(); }

  // y [ntok, rows] from x [ntok, cols].
  void Forward(const Mat<T>& x, Mat<T>& y, Saved& saved) const;
  // Adds ∂L/∂x to *dx (when dx is not null; resized and zeroed when empty) and the parameters'
  // gradients to their grad, from dy = ∂L/∂y.
  void Backward(const Mat<T>& dy, const Saved& saved, Mat<T>* dx);
  std::vector<Param<T>*> Params();
  // The inference layer with the tuned parameters (its own copy of the codes when the source
  // layer owned them, else borrowing the same memory map); null for a frozen dense layer.
  std::unique_ptr<Linear> Export() const;

  // The frozen parts as dense matrices, for an independent autograd to rebuild the layer
  // (train/gradient_dump.h): y = o ⊙ (((m ⊙ x)ᵀ·v_rows) · Gᵀ)·ut_rows with G = Σ s_k B_k
  // (per-row scales: diag(s)·B). v_rows [cols, cols] has row i = V eᵢ, ut_rows [rows, rows]
  // row i = Uᵀ eᵢ (both empty without rotations); a dense layer has only `weight`.
  // With a tuned HYB table, `hyb_entries` (rows × cols, HybTileEntries' values) says how the
  // one basis reads it: B = ±table[entry].
  struct Frozen {
    std::vector<Mat<T>> basis;
    Mat<T> v_rows, ut_rows, weight;
    bool per_row_scale = false;
    std::vector<uint16_t> hyb_entries;
  };
  Frozen FrozenForm() const;
  const std::string& name() const { return name_; }

 private:
  void Rotate(T* rows_data, int ntok, bool output_side, bool transposed) const;
  // Dense layers: W, the model's fp32 tensor in place (float) or weight_ (double).
  Eigen::Map<const Mat<T>> Dense() const { return {dense_, rows_, cols_}; }
  // Quantized layers: B_k with unit scales (the padding columns dropped), decoded from the
  // codes each time (docs/finetune.md, Memory); G = Σ s_k B_k or diag(s)·B from them.
  Mat<T> Basis(size_t k) const;
  Mat<T> G() const;
  // Tuned HYB table: each weight's table entry (rows × cols, HybTileEntries' values).
  std::vector<uint16_t> HybEntries() const;

  std::string name_;
  int rows_ = 0, cols_ = 0;
  const T* dense_ = nullptr;
  Mat<T> weight_;              // the double copy of a dense W
  // The decoders of B_k (unit scales, codes borrowed), or of the one B of a per-row scale.
  std::vector<std::unique_ptr<CodebookMatrix>> decoders_;
  bool per_row_scale_ = false;
  Param<T> in_mult_, scale_, out_mult_;
  Param<T>* table_ = nullptr;  // the tuned HYB table, when this layer reads it
  std::optional<StoredLinear> stored_;  // codes borrowed from the source layer
  bool source_owned_codes_ = false;
  std::optional<Rotation> u_, v_;
  std::optional<kernels::FastRotation> fast_u_, fast_v_;
};

}  // namespace quip::train
