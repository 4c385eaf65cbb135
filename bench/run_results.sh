#!/usr/bin/env bash
# Regenerates docs/results.md from fresh measurements (about an hour on 2 cores):
#   1. the paper's ablation tables on books-llama-5m (calibration: books train; evaluation:
#      books valid and WikiText-2, first 120 windows each) and on stories260K,
#   2. QuIP, QuIP-RG and QuIP# at 2/3/4 bits on books-llama-5m scored on the full texts,
#      the QuIP# parts (RHT-scalar, Kron-E8P), codebook MSE on Gaussian data,
#      calibration targets (+ seq, + asym rows; QuIP and QuIP# + asym on the full texts),
#      QTIP (+ asym: 1MAD at 2/3/4 bits, 3INST and HYB at 2) on the full texts,
#   3. the fp32 forward benchmark.
# Every step writes JSON under bench/results/; tools/results_page.py renders the page. The one
# input no step writes is bench/results/floor_issue4.json (issue 4's PyTorch floor, quoted).
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${QUIP_SHARED:-../shared}
quip=./build/src/quip
out=bench/results
mkdir -p "$out"
books=$shared/models/books-llama-5m
train=$shared/data/books/train.txt
valid=$shared/data/books/valid.txt
wiki=$shared/data/wikitext-2-raw/wiki.test.raw
tiny=data/tinystories/tinystories-train-head.txt

$quip ablate --model "$books" --calib "$train" --eval "$valid,$wiki" --bits 2,3,4 --eval-windows 120 \
  --out "$out/ablate-books" --force >/dev/null
$quip ablate --model models/stories260K --calib "$tiny" --eval "$tiny" --bits 2,3,4 --nsamples 64 \
  --out "$out/ablate-stories260K" --force >/dev/null
$quip ablate --model "$books" --calib "$train" --eval "$valid,$wiki" --bits 2,3,4 --only QuIP,QuIP-RG \
  --out "$out/quip-books-full" --force >/dev/null
$quip ablate --model "$books" --calib "$train" --eval "$valid,$wiki" --bits 2,3,4 --eval-windows 120 \
  --only "QuIP#,RHT-scalar,Kron-E8P" --out "$out/ablate-books-quipsharp" --force >/dev/null
$quip ablate --model "$books" --calib "$train" --eval "$valid,$wiki" --bits 2,3,4 --only "QuIP#" \
  --out "$out/quipsharp-books-full" --force >/dev/null
$quip ablate --model "$books" --calib "$train" --eval "$valid,$wiki" --bits 2,3,4 --eval-windows 120 \
  --only "QuIP# + seq,QuIP# + asym,QuIP + asym" --out "$out/ablate-books-targets" --force >/dev/null
$quip ablate --model "$books" --calib "$train" --eval "$valid,$wiki" --bits 2,3,4 --only "QuIP# + asym,QuIP + asym" \
  --out "$out/targets-books-full" --force >/dev/null
$quip ablate --model "$books" --calib "$train" --eval "$valid,$wiki" --bits 2,3,4 --only "QTIP + asym" \
  --out "$out/qtip-books-full" --force >/dev/null
$quip ablate --model "$books" --calib "$train" --eval "$valid,$wiki" --bits 2 --only "QTIP 3INST + asym,QTIP HYB + asym" \
  --out "$out/qtip-codes-books-full" --force >/dev/null
./build/bench/codebook_mse > "$out/codebook_mse.json"
bash bench/run_forward_bench.sh >/dev/null
bash bench/run_kernel_bench.sh --threads 2 --prompt 128 --gen 32 >/dev/null
/usr/bin/python3 tools/results_page.py "$out" > docs/results.md
echo "wrote docs/results.md"
