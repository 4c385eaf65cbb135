// OpenBLAS's kernels for this CPU.
//
// A DYNAMIC_ARCH OpenBLAS (Debian's) picks its kernels once, when the library loads, from a
// table of the CPU models it knows; a model newer than the library (Debian 12's 0.3.21 and
// Intel's Emerald Rapids, say) falls back to the Prescott kernels, plain SSE3: SGEMM and
// DGEMM ~4x slower (docs/kernels.md, "Prompts on the Intel Xeon"). Only OPENBLAS_CORETYPE,
// read while the library loads, changes that choice, so this runs the program again, once,
// with it set.
#pragma once

namespace quip {

// When OpenBLAS chose its Prescott fallback on a CPU with AVX-512 (F, CD, BW, DQ, VL) or
// AVX2 + FMA and OPENBLAS_CORETYPE is unset, sets it to SkylakeX or Haswell and re-executes
// this program with the same arguments (/proc/self/exe; the process id stays). Returns
// when nothing needed doing or the re-execution failed (the program then runs as it is).
// Call first thing in main(), before any thread is started.
void UseBlasKernelsForThisCpu(char** argv);

// The kernel set OpenBLAS runs ("SkylakeX", "Haswell", "Prescott", ...).
const char* BlasKernelName();

}  // namespace quip
