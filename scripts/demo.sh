#!/usr/bin/env bash
# Sets up, builds and runs the main job on the embedded default model (stories260K):
# greedy generation from BOS, then perplexity on the embedded TinyStories text.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
./build/src/quip generate --model models/stories260K --temp 0 -n 120
./build/src/quip ppl --model models/stories260K --text data/tinystories/tinystories-train-head.txt --ctx 256
