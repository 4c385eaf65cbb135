#!/usr/bin/env bash
# Installs the Debian 12 packages that quip's build, tests and reference scripts need.
# Idempotent: when every package is already present it only runs dpkg-query and exits.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libeigen3-dev          # dense linear algebra (Cholesky, LDL, triangular solves)
  libopenblas-dev        # BLAS sgemm/sgemv for the forward pass, LAPACK
  libsentencepiece-dev   # Hugging Face tokenizer.model
  nlohmann-json3-dev     # config.json, safetensors headers, reports
  libcli11-dev           # command line
  libfmt-dev             # formatting
  libhwy-dev             # Highway SIMD (kernels)
  libxxhash-dev          # XXH3 checksums of quantized folders
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-numpy          # independent NumPy reference scripts in tools/
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer + sanitizers (docs/robustness.md)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
