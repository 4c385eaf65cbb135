#!/usr/bin/env bash
# Builds and runs bench/kernel_bench (issue 5: quantized kernels against the memory
# roofline) and writes
#   bench/results/kernel_bench.json  (machine bandwidth, synthetic model, books-llama-5m)
#   bench/results/kernel_bench.md    (Markdown table of the same numbers)
# Usage: bench/run_kernel_bench.sh [kernel_bench flags, e.g. --threads 2 --gen 32 --no-books]
# Env:   BUILD_DIR (default build), QUIP_SHARED (default <repo>/../shared),
#        KERNEL_BENCH (a prebuilt kernel_bench binary: skips the build).
# A few minutes on 2 cores (mostly fp32 decoding of the 1.4 GB synthetic model and the
# quantization set-up); needs ~4 GB of RAM. Close other heavy work first.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${BUILD_DIR:-build}"
out_dir="$root/bench/results"
mkdir -p "$out_dir"

bench_bin="${KERNEL_BENCH:-}"
if [[ -z "$bench_bin" ]]; then
  if [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S . -B "$build" -DQUIP_BUILD_BENCH=ON
  fi
  cmake --build "$build" -j2 --target kernel_bench
  bench_bin="$build/bench/kernel_bench"
fi

"$bench_bin" \
  --out "$out_dir/kernel_bench.json" --markdown "$out_dir/kernel_bench.md" "$@" > /dev/null
echo
cat "$out_dir/kernel_bench.md"
echo "wrote $out_dir/kernel_bench.json and $out_dir/kernel_bench.md"
