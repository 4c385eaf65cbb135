#!/usr/bin/env bash
# Installs dependencies (scripts/setup.sh) and builds into build/: everything (quip, its
# tests and benchmarks), or only the targets named, e.g. `bash scripts/build.sh quip`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build -j"$(nproc)" "${targets[@]}"
