#!/usr/bin/env bash
# Builds quip and the whole test suite with AddressSanitizer + UndefinedBehaviorSanitizer
# (CMake option QUIP_SANITIZE, gcc) in build-sanitize/ and runs CTest there.
#
#   bash scripts/sanitize.sh [ctest args]      e.g. -L unit
#   SANITIZE_BUILD_DIR=...                     build folder (default build-sanitize)
#
# Every sanitizer report aborts the process, so it fails its test. OpenBLAS and
# sentencepiece are Debian's uninstrumented builds: their own bugs go unseen, but calls
# into them are checked (ASan intercepts malloc/free and the libc string functions).
# No suppressions are needed (docs/robustness.md lists what was measured).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
build=${SANITIZE_BUILD_DIR:-build-sanitize}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQUIP_SANITIZE=ON -DQUIP_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j"$(nproc)"
cd "$build"
# detect_leaks: on (the default); abort_on_error gives a non-zero status a test can see.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:check_initialization_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 ctest --output-on-failure -j"$(nproc)" --timeout 1800 "$@"
