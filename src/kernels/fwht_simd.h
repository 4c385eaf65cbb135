// Per-target SIMD fast Walsh–Hadamard transform (fwht_simd.cc) for the Hadamard rotation
// of activations (rotation.h's FastHadamard), bit-identical to format/hadamard.h's
// FastWalshHadamard (the reference): every butterfly adds or subtracts the same two
// values in the same stage order.
#pragma once

namespace quip::kernels::simd {

// x[0..m) ← H_m x[0..m) (unnormalised), m a power of two.
void FastWalshHadamard(float* x, int m);

}  // namespace quip::kernels::simd
