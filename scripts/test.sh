#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite (unit + model tests) with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
cd build
# One BLAS/OpenMP thread per test process; CTest runs as many processes as cores.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 ctest --output-on-failure -j"$(nproc)" --timeout 900 "$@"
