// The test binaries' main: OpenBLAS's kernels chosen as in the quip binary (core/blas_kernels.h),
// so a test comparing what it computes in-process with quip's output compares the same
// arithmetic.
#include <gtest/gtest.h>

#include "core/blas_kernels.h"

int main(int argc, char** argv) {
  quip::UseBlasKernelsForThisCpu(argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
