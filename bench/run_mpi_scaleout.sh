#!/usr/bin/env bash
# The measurements of docs/scale-out.md: `quip quantize` single-process and under
# `mpirun --oversubscribe -np 1/2/3` (one quip thread and one BLAS thread per rank) on
# books-llama-5m (32 windows of 256 tokens) and on a random-weight Llama folder with
# dim 1024, hidden 2816, 2 layers (bench/random_llama_folder.py; 16 windows of 256).
# Needs a -DQUIP_MPI=ON build; prints one line per run from each quant_report.json.
#   bench/run_mpi_scaleout.sh BUILD_DIR WORK_DIR
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
quip="$(cd "$1" && pwd)/src/quip"
work="$2"
mkdir -p "$work"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
[ -d "$work/rand1024" ] || /usr/bin/python3 "$src/bench/random_llama_folder.py" "$work/rand1024"
run() {  # name model nsamples launcher...
  local name=$1 model=$2 n=$3; shift 3
  rm -rf "$work/$name"
  "$@" "$quip" quantize --threads 1 --seed 2 --nsamples "$n" --ctx 256 --model "$model" \
    --calib "$src/data/books/train.txt" -o "$work/$name" >/dev/null 2>&1
  /usr/bin/python3 - "$work/$name/quant_report.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); s = r["seconds"]; d = r.get("distributed")
mib = lambda b: round(b / 2**20)
rss = [mib(x) for x in d["peak_rss_bytes_per_rank"]] if d else [mib(r["peak_rss_bytes"])]
sent = [round(x / 1e6, 2) for x in d["rank0_bytes_sent_per_block"]][:2] if d else "-"
held = [mib(x) for x in d["stage_moment_bytes_per_rank"]] if d else "-"
print(f"{sys.argv[2]}: total {s['total']:.1f} s capture {s['capture_hessians']:.1f} quantize {s['quantize']:.1f} "
      f"propagate {s['propagate']:.1f}; peak RSS MiB {rss}; rank 0 MB sent per block {sent}; moment MiB held {held}")
PY
}
mpi() { echo timeout 1200 mpirun --allow-run-as-root --oversubscribe -np "$1"; }
for model in books:"$src/models/books-llama-5m":32 rand1024:"$work/rand1024":16; do
  IFS=: read -r tag path n <<<"$model"
  run "$tag-plain" "$path" "$n" env
  for np in 1 2 3; do run "$tag-np$np" "$path" "$n" $(mpi "$np"); done
done
