#!/usr/bin/python3
"""Turns Google Benchmark JSON from bench/forward_bench into a Markdown table.

Usage: tools/bench_to_markdown.py bench/results/forward_bench.json [more.json ...] > table.md

One row per (model, threads): prompt-eval tok/s (BM_PromptEval, 256-token prompt),
decode tok/s (BM_Decode, 128 tokens after a 256-token prompt), peak RSS MB (the larger
of the two benchmarks' process-wide ru_maxrss) and the CPU from the JSON context.
Standard library only.
"""
import json
import sys


def cpu_of(context):
    name = context.get("cpu_model", "unknown CPU")
    return f"{name} ({context.get('num_cpus', '?')} CPUs)"


def fmt_rate(value):
    return "—" if value is None else f"{value:,.0f}"


def rows_of(doc):
    context = doc.get("context", {})
    rows = {}
    errors = []
    for bench in doc.get("benchmarks", []):
        if bench.get("run_type") == "aggregate" and bench.get("aggregate_name") != "mean":
            continue
        # name: BM_<Kind>/<model>/threads:<n>/real_time[_mean]
        parts = bench.get("run_name", bench["name"]).split("/")
        if len(parts) < 3 or not parts[2].startswith("threads:"):
            continue
        kind, model, threads = parts[0], parts[1], int(parts[2].split(":")[1])
        if bench.get("error_occurred"):
            errors.append(f"{bench['name']}: {bench.get('error_message', 'error')}")
            continue
        row = rows.setdefault((model, threads), {"prompt": None, "decode": None, "rss": 0.0})
        key = {"BM_PromptEval": "prompt", "BM_Decode": "decode"}.get(kind)
        if key is None:
            continue
        row[key] = bench.get("tok_per_s")
        row["rss"] = max(row["rss"], bench.get("peak_rss_mb", 0.0))
    return context, rows, errors


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    lines = [
        "| model | threads | prompt tok/s | decode tok/s | peak RSS MB | CPU |",
        "|---|---:|---:|---:|---:|---|",
    ]
    notes = []
    for path in argv[1:]:
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            sys.stderr.write(f"bench_to_markdown: {path}: {e}\n")
            return 1
        context, rows, errors = rows_of(doc)
        cpu = cpu_of(context)
        for (model, threads), row in sorted(rows.items()):
            lines.append(f"| {model} | {threads} | {fmt_rate(row['prompt'])} | {fmt_rate(row['decode'])} "
                         f"| {row['rss']:.1f} | {cpu} |")
        load = context.get("load_avg")
        notes.append(f"{path}: {context.get('date', '?')}, host {context.get('host_name', '?')}, "
                     f"quip build {context.get('quip_build_type', '?')}, "
                     f"load avg {', '.join(f'{x:.2f}' for x in load) if load else '?'}, "
                     f"prompt {context.get('prompt_tokens', '?')} tokens, "
                     f"decode {context.get('decode_tokens', '?')} tokens"
                     + "".join(f", {k[4:]}={v}" for k, v in sorted(context.items())
                               if k.startswith("env_") and v))
        notes.extend(f"error: {e}" for e in errors)
    print("\n".join(lines))
    print()
    for note in notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
