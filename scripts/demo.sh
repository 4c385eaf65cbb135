#!/usr/bin/env bash
# Sets up, builds and runs the main job on the embedded default model (stories260K):
# quantize it to 2 bits with QuIP (calibrating on the embedded TinyStories text), print
# fp32 vs quantized perplexity and size, then generate from the fp32 and the 2-bit model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
text=data/tinystories/tinystories-train-head.txt
out=build/stories260K-quip-2bit
./build/src/quip quantize --model models/stories260K --calib "$text" --bits 2 --method quip \
  --nsamples 128 --ctx 256 -o "$out" --force --eval "$text"
echo "--- fp32:"
./build/src/quip generate --model models/stories260K --temp 0 -n 60
echo "--- QuIP 2-bit:"
./build/src/quip generate --model "$out" --temp 0 -n 60
