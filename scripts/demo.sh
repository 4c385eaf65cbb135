#!/usr/bin/env bash
# The main job on the shipped books-llama-5m (6.8M parameters, fp32, trained on 15
# public-domain books): set up, build the quip binary (not the tests), quantize the model
# to 2 bits with QuIP# (the best method: randomized Hadamard, E8P lattice codebook, block
# LDLQ, each linear fitted to the fp32 model's outputs), compare fp32 and 2-bit perplexity
# on held-out books (the first DEMO_EVAL_WINDOWS windows of 256 tokens of data/books/valid.txt;
# 0 = all 605), show sizes and time, then let both models continue the same prompt
# (sampled at temperature 0.7 with the same seed; greedy decoding of a 5M model loops).
# Under 2 minutes after the build on 2 cores. Writes only into a fresh folder under build/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh quip
quip=build/src/quip
model=models/books-llama-5m
out="$(mktemp -d build/demo-XXXXXX)/books-llama-5m-quipsharp-2bit"
start=$SECONDS

"$quip" quantize --model "$model" --calib data/books/train.txt --bits 2 --method quipsharp \
  --eval data/books/valid.txt --eval-windows "${DEMO_EVAL_WINDOWS:-100}" -o "$out"
echo
"$quip" info --model "$out"

generate_from() {  # label, model folder
  echo
  echo "--- $1 ($(du -sh "$2" | cut -f1) on disk):"
  "$quip" generate --model "$2" --prompt "It was a dark and stormy night, and" --temp 0.7 --seed 2 -n 60
}
generate_from fp32 "$model"
generate_from "QuIP# 2-bit" "$out"
echo
echo "demo: $((SECONDS - start)) s after the build; the 2-bit model is in $out (try: $quip info --model $out)"
