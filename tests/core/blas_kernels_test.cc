// OpenBLAS runs kernels for this CPU's vector width, not its SSE3 fallback for CPUs it does
// not know (core/blas_kernels.h): the test binary's main, like quip's, re-executes itself
// with OPENBLAS_CORETYPE set when OpenBLAS fell back.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "core/blas_kernels.h"
#include "testing/tiny_model.h"

namespace quip {
namespace {

bool CpuHasAvx2Fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

TEST(BlasKernels, NotTheSse3FallbackOnAnAvx2Cpu) {
  const char* set = std::getenv("OPENBLAS_CORETYPE");
  std::printf("OpenBLAS kernels: %s (OPENBLAS_CORETYPE=%s)\n", BlasKernelName(), set ? set : "");
  // Unset, or set by main() to one of the two values it uses; anything else is the user's.
  const bool ours = set == nullptr || std::strcmp(set, "SkylakeX") == 0 || std::strcmp(set, "Haswell") == 0;
  if (CpuHasAvx2Fma() && ours) {
    EXPECT_STRNE(BlasKernelName(), "Prescott");
  } else if (!CpuHasAvx2Fma()) {
    EXPECT_EQ(set, nullptr) << "set on a CPU without AVX2";
  }
}

// The quip binary does the same before parsing its arguments; its arguments and output
// survive the re-execution.
TEST(BlasKernels, QuipBinaryRunsNormallyAfterReexecuting) {
  const auto r = testing::RunCommand(std::string("'") + QUIP_BINARY + "' --version");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("quip ", 0), 0u) << r.output;
}

}  // namespace
}  // namespace quip
