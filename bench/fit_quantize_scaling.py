#!/usr/bin/python3
"""How quantization cost grows with the model's width and the calibration's size (issue 19).

Reads quantize_bench JSON runs over a grid of hidden sizes and window counts and fits, per
phase, seconds ≈ c · hidden^a · tokens^b by least squares on the logarithms. The same fit of
the phase's floating-point work (the cost model's closed forms, the profile's "gflop") gives
the exponents the cost model predicts, so the two columns say whether a phase grows as its
work does or is bound by something else (memory, overheads, a serial step).

  bench/fit_quantize_scaling.py RUNS.json [RUNS.json ...] > fit.json   (+ a Markdown table on stderr)
"""
import json
import sys

import numpy as np


def fit(hidden, tokens, values):
    """Exponents (a, b) and the fit's largest relative error, or None where a fit is meaningless."""
    hidden, tokens, values = map(np.asarray, (hidden, tokens, values))
    keep = values > 0
    if keep.sum() < 3:
        return None
    x = np.column_stack([np.ones(keep.sum()), np.log(hidden[keep]), np.log(tokens[keep])])
    # A phase that does not depend on the tokens (the per-matrix ones) still gets a b: it should come out near 0.
    coef, *_ = np.linalg.lstsq(x, np.log(values[keep]), rcond=None)
    predicted = np.exp(x @ coef)
    worst = float(np.max(np.abs(predicted / values[keep] - 1)))
    return {"hidden_exponent": float(coef[1]), "tokens_exponent": float(coef[2]), "max_relative_error": worst}


def main(paths):
    runs = []
    meta = {}
    for path in paths:
        with open(path) as f:
            d = json.load(f)
        meta = {k: d[k] for k in ("method", "bits", "ctx", "threads")}
        for r in d["runs"]:
            r["tokens"] = r.get("tokens", r.get("nsamples", d["nsamples"]) * d["ctx"])
            runs.append(r)
    phases = sorted({p for r in runs for p in r["profile"]})
    hidden = [r["hidden"] for r in runs]
    tokens = [r["tokens"] for r in runs]
    result = {**meta, "grid": [{"hidden": r["hidden"], "tokens": r["tokens"], "seconds": r["seconds"],
                                "cpu_seconds": r["cpu_seconds"]} for r in runs],
              "whole_run_wall": fit(hidden, tokens, [r["seconds"] for r in runs]),
              "whole_run_cpu": fit(hidden, tokens, [r["cpu_seconds"] for r in runs]),
              "phases": {}}
    for p in phases:
        seconds = [r["profile"].get(p, {}).get("seconds") or 0.0 for r in runs]
        gflop = [r["profile"].get(p, {}).get("gflop") or 0.0 for r in runs]
        result["phases"][p] = {"measured": fit(hidden, tokens, seconds), "cost_model": fit(hidden, tokens, gflop),
                               "share_of_largest_run_cpu": seconds[int(np.argmax(np.array(hidden) * np.array(tokens)))]
                               / max(runs[int(np.argmax(np.array(hidden) * np.array(tokens)))]["cpu_seconds"], 1e-9)}
    json.dump(result, sys.stdout, indent=2)
    print()

    def cell(f):
        return "–" if f is None else f"{f['hidden_exponent']:.2f} / {f['tokens_exponent']:.2f}"

    print("| phase | measured: hidden / tokens exponent | cost model | share of the largest run's CPU |",
          file=sys.stderr)
    print("|---|---|---|---|", file=sys.stderr)
    for p, v in result["phases"].items():
        print(f"| {p} | {cell(v['measured'])} | {cell(v['cost_model'])} | {100 * v['share_of_largest_run_cpu']:.0f} % |",
              file=sys.stderr)
    print(f"| whole run, wall | {cell(result['whole_run_wall'])} | | |", file=sys.stderr)
    print(f"| whole run, CPU | {cell(result['whole_run_cpu'])} | | 100 % |", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
