#!/usr/bin/env bash
# How quantization cost grows (issue 19): quantizes random-weight Llamas of hidden 512, 1024
# and 2048 (ffn 2.75x, 2 layers) on 16, 64 and 128 windows of 128 tokens, then fits each
# phase's exponents in hidden and tokens and sets them beside the cost model's
# (bench/fit_quantize_scaling.py). Writes
#   bench/results/quantize_scaling_METHOD.json      (quantize_bench's runs)
#   bench/results/quantize_scaling_METHOD_fit.json  (exponents; a Markdown table goes to stderr)
# Usage: bench/run_quantize_scaling.sh [quip|quipsharp] [extra quantize_bench args, e.g. threads=2]
# Env: BUILD_DIR (default build), QUANTIZE_BENCH (a prebuilt binary), HIDDEN, NSAMPLES, CTX.
# About 15 minutes on 2 idle cores for one method (the 2048-wide runs on 128 windows dominate).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
method="${1:-quip}"
shift || true
build="${BUILD_DIR:-build}"
bench_bin="${QUANTIZE_BENCH:-}"
if [[ -z "$bench_bin" ]]; then
  if [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
  fi
  cmake --build "$build" -j2 --target quantize_bench
  bench_bin="$build/bench/quantize_bench"
fi
out="$root/bench/results/quantize_scaling_${method}"
"$bench_bin" hidden="${HIDDEN:-512,1024,2048}" layers=2 nsamples="${NSAMPLES:-16,64,128}" ctx="${CTX:-128}" \
  method="$method" "$@" > "$out.json.tmp"
mv "$out.json.tmp" "$out.json"
/usr/bin/python3 bench/fit_quantize_scaling.py "$out.json" > "${out}_fit.json.tmp"  # table on stderr
mv "${out}_fit.json.tmp" "${out}_fit.json"
echo "wrote $out.json and ${out}_fit.json"
