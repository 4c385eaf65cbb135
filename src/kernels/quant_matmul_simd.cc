// SIMD kernels for packed 2/3/4-bit matrices, compiled once per CPU target with
// Highway (foreach_target.h re-includes this file per target; HWY_DYNAMIC_DISPATCH
// picks the best one the CPU supports at run time). See quant_matmul_simd.h for the
// column order. All SIMD of the project's quantized inference lives here.
//
// The inner loop per block of B codes and per code position j: one AND (no shift:
// code·2^(bits·j) converts exactly to float, the 2^(−bits·j) is folded into the
// activations), one int→float conversion, and one FMA per token. Codes are never
// written to memory as floats. Up to 8 tokens share each unpacked vector, so small
// batches read the weights once.
#include <cmath>
#include <cstring>
#include <utility>

// Arrays of vectors (the per-token accumulators) need sized vector types.
#ifndef HWY_DISABLED_TARGETS
#define HWY_DISABLED_TARGETS (HWY_SVE | HWY_SVE2 | HWY_SVE_256 | HWY_SVE2_128 | HWY_RVV)
#endif

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/quant_matmul_simd.cc"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "kernels/unroll.h"
#include "kernels/quant_matmul_simd.h"

HWY_BEFORE_NAMESPACE();
namespace quip::kernels::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DU = hn::RebindToUnsigned<DF>;
using DI = hn::RebindToSigned<DF>;
using DU8 = hn::Repartition<uint8_t, DU>;
using VF = hn::Vec<DF>;
using VU = hn::Vec<DU>;

template <int kBits>
constexpr int kCodesPerLane = kBits == 3 ? 8 : 32 / kBits;
template <int kBits>
constexpr int kBytesPerLane = kBits == 3 ? 3 : 4;

// The top code of a full 32-bit lane would convert as a negative int: shift it down.
template <int kBits, int j>
constexpr bool kShiftCode = kBits != 3 && j == kCodesPerLane<kBits> - 1;

template <int kBits, int j>
constexpr float CodeFactor() {  // what the extracted lane value is times the code
  return kShiftCode<kBits, j> ? 1.0f : 1.0f / float(1u << (kBits * j));
}

// Block loader: the packed bits of lane i's codes in 32-bit lane i.
template <int kBits>
class BlockLoader {
 public:
  explicit BlockLoader(const uint8_t* codes_end) : end_(codes_end) {
    if constexpr (kBits == 3) {
      // Lanes: 32-bit word 3·(i/4) + min(i%4, 2), so each 128-bit block holds the 12
      // bytes of its 4 lanes; then bytes 3m..3m+2 of the block go to its lane m.
      const DU du;
      HWY_ALIGN int32_t idx[hn::MaxLanes(DU())];
      for (size_t i = 0; i < hn::Lanes(du); ++i) idx[i] = int32_t(3 * (i / 4) + std::min<size_t>(i % 4, 2));
      lanes_ = hn::SetTableIndices(du, idx);
      HWY_ALIGN uint8_t bytes[hn::MaxLanes(DU8())];
      static constexpr uint8_t kPattern[16] = {0, 1, 2, 0x80, 3, 4, 5, 0x80, 6, 7, 8, 0x80, 9, 10, 11, 0x80};
      for (size_t i = 0; i < hn::Lanes(DU8()); ++i) bytes[i] = kPattern[i % 16];
      bytes_ = hn::Load(DU8(), bytes);
    }
  }

  HWY_INLINE VU Load(const uint8_t* p) const {
    const DU du;
    const DU8 d8;
    if constexpr (kBits != 3) {
      return hn::BitCast(du, hn::LoadU(d8, p));
    } else {
      // A block is 3N bytes; the vector load reads 4N. Near the end of the matrix,
      // copy instead of reading past it.
      HWY_ALIGN uint8_t buf[hn::MaxLanes(DU8())];
      if (p + hn::Lanes(d8) > end_) {
        std::memset(buf, 0, sizeof(buf));
        std::memcpy(buf, p, 3 * hn::Lanes(du));
        p = buf;
      }
      const VU v = hn::TableLookupLanes(hn::BitCast(du, hn::LoadU(d8, p)), lanes_);
      return hn::BitCast(du, hn::TableLookupBytesOr0(hn::BitCast(d8, v), bytes_));
    }
  }

 private:
  const uint8_t* end_;
  decltype(hn::SetTableIndices(DU(), static_cast<const int32_t*>(nullptr))) lanes_;
  hn::Vec<DU8> bytes_;
};

// Code j of every lane, times CodeFactor<kBits, j>()^-1, as float.
template <int kBits, int j>
HWY_INLINE VF ExtractCode(VU v) {
  const DF df;
  const DI di;
  const DU du;
  if constexpr (kShiftCode<kBits, j>) {
    return hn::ConvertTo(df, hn::BitCast(di, hn::ShiftRight<32 - kBits>(v)));
  } else {
    return hn::ConvertTo(df, hn::BitCast(di, hn::And(v, hn::Set(du, ((1u << kBits) - 1) << (kBits * j)))));
  }
}

// Scalar read of code c of a packed row (tails past the last full block).
HWY_INLINE int TailCode(const uint8_t* row, int64_t row_bytes, int64_t c, int bits) {
  const int64_t bit = c * bits, byte = bit >> 3;
  unsigned v = row[byte];
  if (byte + 1 < row_bytes) v |= unsigned(row[byte + 1]) << 8;
  return int(v >> (bit & 7)) & ((1 << bits) - 1);
}

template <int kBits>
void PrepareT(const float* x, int ntok, int cols, bool prescale, float* xp, float* xsum) {
  const size_t N = hn::Lanes(DF());
  constexpr int kK = kCodesPerLane<kBits>;
  float factor[kK];
  Unroll<kK>([&](auto j) { factor[j] = prescale ? CodeFactor<kBits, j>() : 1.0f; });
  const size_t B = kK * N;
  const int64_t full = int64_t(cols / B) * B;
  for (int t = 0; t < ntok; ++t) {
    const float* xt = x + int64_t(t) * cols;
    float* out = xp + int64_t(t) * cols;
    for (int64_t b = 0; b < full; b += B)
      for (size_t i = 0; i < N; ++i)
        for (int j = 0; j < kK; ++j) out[b + j * N + i] = xt[b + i * kK + j] * factor[j];
    for (int64_t c = full; c < cols; ++c) out[c] = xt[c];
    if (xsum != nullptr) {  // four chains: a single double chain costs more than the permutation
      double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      int c = 0;
      for (; c + 4 <= cols; c += 4) s0 += xt[c], s1 += xt[c + 1], s2 += xt[c + 2], s3 += xt[c + 3];
      for (; c < cols; ++c) s0 += xt[c];
      xsum[t] = float((s0 + s1) + (s2 + s3));
    }
  }
}

template <int kBits, int kTokens>
void RowsT(const PackedMatrixView& w, const float* xp, const float* xsum, int r0, int r1, float* y) {
  const DF df;
  const size_t N = hn::Lanes(df);
  constexpr int kK = kCodesPerLane<kBits>;
  // Independent accumulators per token, enough to hide the FMA latency.
  constexpr int kAcc = kTokens >= 4 ? 1 : 4 / kTokens;
  const size_t B = kK * N;
  const int64_t nblk = w.cols / int64_t(B);
  const size_t block_bytes = kBytesPerLane<kBits> * N;
  const BlockLoader<kBits> loader(w.codes + int64_t(w.rows) * w.row_bytes);
  const int64_t cols = w.cols;
  for (int r = r0; r < r1; ++r) {
    const uint8_t* row = w.codes + int64_t(r) * w.row_bytes;
    VF acc[kTokens][kAcc];
    for (int t = 0; t < kTokens; ++t)
      for (int a = 0; a < kAcc; ++a) acc[t][a] = hn::Zero(df);
    for (int64_t blk = 0; blk < nblk; ++blk) {
      const VU v = loader.Load(row + blk * block_bytes);
      const float* xb = xp + blk * B;
      Unroll<kK>([&](auto jc) {
        constexpr int j = decltype(jc)::value;
        const VF code = ExtractCode<kBits, j>(v);
        for (int t = 0; t < kTokens; ++t)
          acc[t][j % kAcc] = hn::MulAdd(code, hn::LoadU(df, xb + t * cols + j * N), acc[t][j % kAcc]);
      });
    }
    float tail[kTokens] = {};
    for (int64_t c = nblk * int64_t(B); c < cols; ++c) {
      const float code = float(TailCode(row, w.row_bytes, c, kBits));
      for (int t = 0; t < kTokens; ++t) tail[t] += code * xp[t * cols + c];
    }
    const float scale = w.row_scale[r], zero = w.row_zero[r];
    for (int t = 0; t < kTokens; ++t) {
      VF sum = acc[t][0];
      for (int a = 1; a < kAcc; ++a) sum = hn::Add(sum, acc[t][a]);
      const float dot = hn::GetLane(hn::SumOfLanes(df, sum)) + tail[t];
      y[int64_t(t) * w.rows + r] = scale * (dot - zero * xsum[t]);
    }
  }
}

template <int kBits>
void MatmulRowsT(const PackedMatrixView& w, const float* xp, const float* xsum, int ntok, int r0, int r1,
                 float* y) {
  switch (ntok) {
    case 1: return RowsT<kBits, 1>(w, xp, xsum, r0, r1, y);
    case 2: return RowsT<kBits, 2>(w, xp, xsum, r0, r1, y);
    case 3: return RowsT<kBits, 3>(w, xp, xsum, r0, r1, y);
    case 4: return RowsT<kBits, 4>(w, xp, xsum, r0, r1, y);
    case 5: return RowsT<kBits, 5>(w, xp, xsum, r0, r1, y);
    case 6: return RowsT<kBits, 6>(w, xp, xsum, r0, r1, y);
    case 7: return RowsT<kBits, 7>(w, xp, xsum, r0, r1, y);
    case 8: return RowsT<kBits, 8>(w, xp, xsum, r0, r1, y);
  }
}

template <int kBits>
void DequantizeT(const PackedMatrixView& w, int r0, int nr, float* out) {
  const DF df;
  const size_t N = hn::Lanes(df);
  constexpr int kK = kCodesPerLane<kBits>;
  const size_t B = kK * N;
  const int64_t nblk = w.cols / int64_t(B);
  const size_t block_bytes = kBytesPerLane<kBits> * N;
  const BlockLoader<kBits> loader(w.codes + int64_t(w.rows) * w.row_bytes);
  for (int i = 0; i < nr; ++i) {
    const int r = r0 + i;
    const uint8_t* row = w.codes + int64_t(r) * w.row_bytes;
    float* dst = out + int64_t(i) * w.cols;
    const VF scale = hn::Set(df, w.row_scale[r]), zero = hn::Set(df, w.row_zero[r]);
    for (int64_t blk = 0; blk < nblk; ++blk) {
      const VU v = loader.Load(row + blk * block_bytes);
      Unroll<kK>([&](auto jc) {
        constexpr int j = decltype(jc)::value;
        const VF code = hn::Mul(ExtractCode<kBits, j>(v), hn::Set(df, CodeFactor<kBits, j>()));
        hn::StoreU(hn::Mul(hn::Sub(code, zero), scale), df, dst + blk * B + j * N);
      });
    }
    for (int64_t c = nblk * int64_t(B); c < w.cols; ++c)
      dst[c] = w.row_scale[r] * (float(TailCode(row, w.row_bytes, c, kBits)) - w.row_zero[r]);
  }
}

void PrepareActivations(int bits, const float* x, int ntok, int cols, bool prescale, float* xp, float* xsum) {
  switch (bits) {
    case 2: return PrepareT<2>(x, ntok, cols, prescale, xp, xsum);
    case 3: return PrepareT<3>(x, ntok, cols, prescale, xp, xsum);
    case 4: return PrepareT<4>(x, ntok, cols, prescale, xp, xsum);
  }
}

void MatmulRows(const PackedMatrixView& w, const float* xp, const float* xsum, int ntok, int r0, int r1, float* y) {
  switch (w.bits) {
    case 2: return MatmulRowsT<2>(w, xp, xsum, ntok, r0, r1, y);
    case 3: return MatmulRowsT<3>(w, xp, xsum, ntok, r0, r1, y);
    case 4: return MatmulRowsT<4>(w, xp, xsum, ntok, r0, r1, y);
  }
}

void DequantizeRows(const PackedMatrixView& w, int r0, int nr, float* out) {
  switch (w.bits) {
    case 2: return DequantizeT<2>(w, r0, nr, out);
    case 3: return DequantizeT<3>(w, r0, nr, out);
    case 4: return DequantizeT<4>(w, r0, nr, out);
  }
}

const char* TargetName() { return hwy::TargetName(HWY_TARGET); }

}  // namespace HWY_NAMESPACE
}  // namespace quip::kernels::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace quip::kernels::simd {

HWY_EXPORT(PrepareActivations);
HWY_EXPORT(MatmulRows);
HWY_EXPORT(DequantizeRows);
HWY_EXPORT(TargetName);

void PrepareActivations(int bits, const float* x, int ntok, int cols, bool prescale, float* xp, float* xsum) {
  HWY_DYNAMIC_DISPATCH(PrepareActivations)(bits, x, ntok, cols, prescale, xp, xsum);
}
void MatmulRows(const PackedMatrixView& w, const float* xp, const float* xsum, int ntok, int r0, int r1, float* y) {
  HWY_DYNAMIC_DISPATCH(MatmulRows)(w, xp, xsum, ntok, r0, r1, y);
}
void DequantizeRows(const PackedMatrixView& w, int r0, int nr, float* out) {
  HWY_DYNAMIC_DISPATCH(DequantizeRows)(w, r0, nr, out);
}
const char* TargetName() { return HWY_DYNAMIC_DISPATCH(TargetName)(); }

}  // namespace quip::kernels::simd
#endif  // HWY_ONCE
