#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with Debian's clang (-fsanitize=fuzzer,address,undefined)
# and runs each for a bounded time on seeds from tools/make_bad_inputs.py.
#
#   bash scripts/fuzz.sh [target ...]          # default: all five targets
#   FUZZ_SECONDS=60      seconds per target (default 60)
#   FUZZ_BUILD_DIR=...   build folder (default build-fuzz)
#
# Crashes land in $FUZZ_BUILD_DIR/artifacts/<target>-crash-*; the script prints the
# executions per target and exits non-zero if any target found something. Reproduce one
# with: $FUZZ_BUILD_DIR/fuzz/<target> <artifact>. Add every finding to
# tools/make_bad_inputs.py as a case (docs/robustness.md).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
seconds=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD_DIR:-build-fuzz}
targets=("$@")
((${#targets[@]})) || targets=(fuzz_safetensors fuzz_llama2c fuzz_config fuzz_quip_format fuzz_tokenizer)

CC=clang CXX=clang++ cmake -S . -B "$build" -DQUIP_FUZZ=ON -DQUIP_BUILD_TESTS=OFF -DQUIP_BUILD_BENCH=OFF \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

# Seeds: the malformed-input corpus and its valid controls, sorted by what each target reads.
seeds="$build/seeds"
rm -rf "$seeds"
python3 tools/make_bad_inputs.py "$seeds/corpus" >/dev/null
seed_files() {
  case "$1" in
    fuzz_safetensors) find "$seeds/corpus" -name '*.safetensors' ;;
    fuzz_quip_format) find "$seeds/corpus/quantized" -name 'model.safetensors' ;;
    fuzz_llama2c) find "$seeds/corpus" -name 'model.bin' -type f ;;
    fuzz_config) find "$seeds/corpus" -name 'config.json' -type f ;;
    fuzz_tokenizer) find "$seeds/corpus" -name 'tok300.bin' -type f ;;
  esac
}

# ASan: the libraries we do not build (OpenBLAS, sentencepiece) are not instrumented, which
# only means their bugs go unseen; no suppressions are needed for these loaders.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$build/artifacts"
status=0
summary=()
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  mkdir -p "$corpus"
  seed_files "$t" | while read -r f; do cp "$f" "$corpus/seed-$(sha1sum "$f" | cut -c1-16)"; done
  log="$build/$t.log"
  echo "fuzz: $t for ${seconds}s ($(ls "$corpus" | wc -l) corpus files)"
  # -max_len: seeds are up to ~40 KB (tiny models); larger inputs only slow the search.
  if "$build/fuzz/$t" "$corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" >"$log" 2>&1; then
    result=ok
  else
    result="FOUND SOMETHING (see $log)"
    status=1
  fi
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  summary+=("$(printf '%-18s %10s executions  %s' "$t" "$execs" "$result")")
done
printf '%s\n' "fuzz summary (${seconds}s per target):" "${summary[@]}"
exit $status
