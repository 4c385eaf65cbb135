// Int8 multiply-accumulate building blocks shared by the integer kernels
// (q8_matmul_simd.cc, e8p_matvec_simd.cc). A Highway "-inl" header: included by each
// per-target compilation of those files (the toggle guard below re-arms it per target).
// x86 has single instructions for both (vpmaddubsw, vpsignb); other targets use the
// portable Highway forms.

#if defined(QUIP_KERNELS_INT8_DOT_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef QUIP_KERNELS_INT8_DOT_INL_H_
#undef QUIP_KERNELS_INT8_DOT_INL_H_
#else
#define QUIP_KERNELS_INT8_DOT_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace quip::kernels::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Σ of adjacent byte pairs a[2i]·b[2i] + a[2i+1]·b[2i+1] as int16, for unsigned a and
// signed b small enough that the pair sum fits int16 (callers keep it below 2^15).
template <class DU8>
HWY_INLINE hn::Vec<hn::Repartition<int16_t, DU8>> MulPairs(hn::Vec<DU8> a, hn::Vec<hn::RebindToSigned<DU8>> b) {
  using DI16 = hn::Repartition<int16_t, DU8>;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  return hn::Vec<DI16>{_mm512_maddubs_epi16(a.raw, b.raw)};
#elif HWY_TARGET == HWY_AVX2
  return hn::Vec<DI16>{_mm256_maddubs_epi16(a.raw, b.raw)};
#elif HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
  return hn::Vec<DI16>{_mm_maddubs_epi16(a.raw, b.raw)};
#else
  // Portable: split even and odd bytes into int16 lanes (sign-extending b).
  const DI16 d16;
  const hn::Repartition<uint16_t, DU8> du16;
  const auto a16 = hn::BitCast(du16, a);
  const auto a_even = hn::BitCast(d16, hn::And(a16, hn::Set(du16, 0xFF)));
  const auto a_odd = hn::BitCast(d16, hn::ShiftRight<8>(a16));
  const auto b16 = hn::BitCast(d16, b);
  const auto b_even = hn::ShiftRight<8>(hn::ShiftLeft<8>(b16));
  const auto b_odd = hn::ShiftRight<8>(b16);
  return hn::Add(hn::Mul(a_even, b_even), hn::Mul(a_odd, b_odd));
#endif
}

// x with the sign of s applied per byte: −x where s < 0, x where s > 0, 0 where s = 0
// (vpsignb). Callers pass s without zeros.
template <class V>
HWY_INLINE V ApplySign(V x, V s) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  // AVX-512 has no vpsignb: negate where s is negative.
  return hn::IfNegativeThenElse(s, hn::Neg(x), x);
#elif HWY_TARGET == HWY_AVX2
  return V{_mm256_sign_epi8(x.raw, s.raw)};
#elif HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
  return V{_mm_sign_epi8(x.raw, s.raw)};
#else
  return hn::IfNegativeThenElse(s, hn::Neg(x), x);
#endif
}

}  // namespace HWY_NAMESPACE
}  // namespace quip::kernels::simd
HWY_AFTER_NAMESPACE();

#endif  // QUIP_KERNELS_INT8_DOT_INL_H_
