#!/usr/bin/env bash
# Builds and runs bench/forward_bench (issue 3 §6) and writes
#   bench/results/forward_bench.json  (Google Benchmark JSON)
#   bench/results/forward_bench.md    (Markdown table, tools/bench_to_markdown.py)
# Usage: bench/run_forward_bench.sh [extra Google Benchmark flags, e.g. --benchmark_filter=books]
# Env:   BUILD_DIR (default build), QUIP_SHARED (default <repo>/../shared),
#        FORWARD_BENCH (a prebuilt forward_bench binary: skips the build).
# About a minute on 2 cores. Close other heavy work first: the 2-thread rows need both cores.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build="${BUILD_DIR:-build}"
out_dir="$root/bench/results"
mkdir -p "$out_dir"

bench_bin="${FORWARD_BENCH:-}"
if [[ -z "$bench_bin" ]]; then
  if [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S . -B "$build" -DQUIP_BUILD_BENCH=ON
  fi
  cmake --build "$build" -j2 --target forward_bench
  bench_bin="$build/bench/forward_bench"
fi

"$bench_bin" \
  --benchmark_out="$out_dir/forward_bench.json" --benchmark_out_format=json \
  --benchmark_counters_tabular=true "$@"

# The repository-relative path: the Markdown ends up in docs/results.md.
/usr/bin/python3 tools/bench_to_markdown.py bench/results/forward_bench.json > "$out_dir/forward_bench.md"
echo
cat "$out_dir/forward_bench.md"
echo "wrote $out_dir/forward_bench.json and $out_dir/forward_bench.md"
