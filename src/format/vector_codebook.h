// Vector codebooks of QuIP#: what a stored group index means (Decode) and how a vector is
// rounded to the nearest point (Round). They define the stored formats (E8P, its one-bit and
// RVQ second stages), so inference kernels and the offline rounding (quant/block_ldlq.h) share
// them. Codes are uint32 words, codes_per_group() per group of dim() weights.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

namespace quip {

class VectorCodebook {
 public:
  virtual ~VectorCodebook() = default;
  virtual int dim() const = 0;               // g
  virtual int codes_per_group() const = 0;   // index words per group (RVQ: one per stage)
  virtual double bits_per_weight() const = 0;
  // Rounds in[0..g) to the codebook: the reconstruction to out[0..g), the indices to
  // idx[0..codes_per_group()). Deterministic.
  virtual void Round(const double* in, double* out, uint32_t* idx) const = 0;
  // Round for `count` groups: in and out hold them one after the other (count × g), group
  // r's indices go to idx + r·idx_stride. The same values as Round on each; E8P rounds eight
  // groups per pass (e8p::NearestBatch), the others one by one.
  virtual void RoundMany(const double* in, double* out, uint32_t* idx, int64_t idx_stride, int64_t count) const;
  // Reconstruction from indices (the same values Round wrote to out).
  virtual void Decode(const uint32_t* idx, double* out) const = 0;
};

// g = 1, the scalar grid of rounding.h in grid units: Q(x) = clamp(round-half-even(x), 0, maxq);
// the index is the code. Block LDLQ with it is scalar LDLQ (RoundLdlq, nearest).
class ScalarGridCodebook final : public VectorCodebook {
 public:
  explicit ScalarGridCodebook(int maxq) : maxq_(maxq) {}
  int dim() const override { return 1; }
  int codes_per_group() const override { return 1; }
  double bits_per_weight() const override;
  void Round(const double* in, double* out, uint32_t* idx) const override;
  void Decode(const uint32_t* idx, double* out) const override;

 private:
  int maxq_;
};

// g = 8, x ↦ s·E8P(x/s) with the exact nearest point (e8p.h); the index is the 16-bit E8P index.
class E8PCodebook final : public VectorCodebook {
 public:
  explicit E8PCodebook(double scale) : scale_(scale) {}
  double scale() const { return scale_; }
  int dim() const override { return 8; }
  int codes_per_group() const override { return 1; }
  double bits_per_weight() const override { return 2.0; }
  void Round(const double* in, double* out, uint32_t* idx) const override;
  void RoundMany(const double* in, double* out, uint32_t* idx, int64_t idx_stride, int64_t count) const override;
  void Decode(const uint32_t* idx, double* out) const override;

 private:
  double scale_;
};

// g = 8, 1 bit per weight: x_i ↦ s·sign(x_i) (sign(0) = +); index bit i set ⇔ negative.
class SignCodebook final : public VectorCodebook {
 public:
  explicit SignCodebook(double scale) : scale_(scale) {}
  int dim() const override { return 8; }
  int codes_per_group() const override { return 1; }
  double bits_per_weight() const override { return 1.0; }
  void Round(const double* in, double* out, uint32_t* idx) const override;
  void Decode(const uint32_t* idx, double* out) const override;

 private:
  double scale_;
};

// g = 8, 1 bit per weight (256 points): s·P with P the 240 minimal vectors of E8 (±e_i ± e_j and
// (±½)^8 with an even number of minus signs) halved, plus the 16 deep holes ±e_i of E8's Voronoi
// cell: the points of norm 1/√2 and 1 that cover the cell the first stage leaves as residual.
// Index = position in the sorted (lexicographic) list of the 256 points; brute-force nearest.
class E8OneBitCodebook final : public VectorCodebook {
 public:
  explicit E8OneBitCodebook(double scale);
  int dim() const override { return 8; }
  int codes_per_group() const override { return 1; }
  double bits_per_weight() const override { return 1.0; }
  void Round(const double* in, double* out, uint32_t* idx) const override;
  void Decode(const uint32_t* idx, double* out) const override;
  static const std::vector<std::array<double, 8>>& Points();  // unscaled, 256

 private:
  double scale_;
};

// Residual VQ: stage k rounds what the stages before it left, r_k = x − Σ_{l<k} out_l; the
// reconstruction is the sum of the stages' outputs, the indices are the stages' in order.
class RvqCodebook final : public VectorCodebook {
 public:
  explicit RvqCodebook(std::vector<std::unique_ptr<VectorCodebook>> stages);
  int dim() const override { return stages_[0]->dim(); }
  int codes_per_group() const override { return cpg_; }
  double bits_per_weight() const override;
  void Round(const double* in, double* out, uint32_t* idx) const override;
  void RoundMany(const double* in, double* out, uint32_t* idx, int64_t idx_stride, int64_t count) const override;
  void Decode(const uint32_t* idx, double* out) const override;
  const VectorCodebook& stage(int k) const { return *stages_[k]; }
  int num_stages() const { return static_cast<int>(stages_.size()); }

 private:
  std::vector<std::unique_ptr<VectorCodebook>> stages_;
  int cpg_ = 0;
};

}  // namespace quip
