// Compile-time loop for the SIMD kernels: Unroll<N>(f) calls f(std::integral_constant<int, j>())
// for j = 0..N-1, so code position j is a constant inside f (shift counts and masks
// become immediates). Plain C++, usable from every per-target compilation.
#pragma once

#include <type_traits>
#include <utility>

namespace quip::kernels {

template <class F, int... J>
inline __attribute__((always_inline)) void UnrollImpl(F&& f, std::integer_sequence<int, J...>) {
  (f(std::integral_constant<int, J>()), ...);
}

template <int kCount, class F>
inline __attribute__((always_inline)) void Unroll(F&& f) {
  UnrollImpl(f, std::make_integer_sequence<int, kCount>());
}

}  // namespace quip::kernels
