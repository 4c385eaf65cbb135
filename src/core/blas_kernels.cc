#include "core/blas_kernels.h"

#include <cblas.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace quip {

namespace {

// The OpenBLAS kernel set this CPU can run, or nullptr when it has neither AVX2 nor AVX-512.
const char* KernelsThisCpuSupports() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return "SkylakeX";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
  return nullptr;
}

}  // namespace

const char* BlasKernelName() { return openblas_get_corename(); }

void UseBlasKernelsForThisCpu(char** argv) {
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return;  // the user's choice, or done already
  // Prescott is what OpenBLAS falls back to for an x86-64 CPU it does not know.
  if (std::strcmp(BlasKernelName(), "Prescott") != 0) return;
  const char* kernels = KernelsThisCpuSupports();
  if (kernels == nullptr) return;
  if (setenv("OPENBLAS_CORETYPE", kernels, 1) != 0) return;
  execv("/proc/self/exe", argv);
  unsetenv("OPENBLAS_CORETYPE");  // execv failed: carry on with the kernels loaded
}

}  // namespace quip
