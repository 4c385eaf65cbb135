#!/usr/bin/python3
"""Measures fine-tuning after rounding on books-llama-5m (docs/finetune.md) and renders its table.

  tools/finetune_measure.py run NAME --method M --bits B [--seed S] [--wiki] [finetune options...]
      quantize (quip quantize, defaults: 128 windows of 256 from books train), perplexity before,
      `quip finetune` under /usr/bin/time -v (wall, CPU, peak RSS), perplexity after; one
      `quip ppl` under /usr/bin/time -v gives the inference peak RSS beside it. Writes
      bench/results/finetune-NAME.json (the folders go to $FINETUNE_WORK, default /tmp).
  tools/finetune_measure.py table
      the Markdown table of every bench/results/finetune-*.json (docs/finetune.md pastes it).

Standard library only; the numbers come from the quip binary's --json output and time -v.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUIP = os.environ.get("QUIP", os.path.join(ROOT, "build", "src", "quip"))
MODEL = os.path.join(ROOT, "models", "books-llama-5m")
TRAIN = os.path.join(ROOT, "data", "books", "train.txt")
VALID = os.path.join(ROOT, "data", "books", "valid.txt")
WIKI = os.path.join(ROOT, "..", "shared", "data", "wikitext-2-raw", "wiki.test.raw")
RESULTS = os.path.join(ROOT, "bench", "results")
THREADS = os.environ.get("FINETUNE_THREADS", "2")


def timed(cmd):
    """Runs cmd under /usr/bin/time -v: (stdout, wall s, cpu s, peak RSS MiB)."""
    start = time.time()
    p = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True)
    wall = time.time() - start
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr[-3000:]}")
    field = lambda name: float(re.search(re.escape(name) + r":\s*([0-9.]+)", p.stderr).group(1))
    cpu = field("User time (seconds)") + field("System time (seconds)")
    return p.stdout, wall, cpu, field("Maximum resident set size (kbytes)") / 1024


def ppl(model, text, max_windows=0):
    """Perplexity of `model` on `text`, and (the fp32 model as reference) its mean KL divergence from
    the fp32 model and top-1 agreement on the same windows; the peak RSS is from a run without the
    reference (the inference memory of the quantized folder alone)."""
    common = ["--text", text, "--json", "--threads", THREADS, "--max-windows", str(max_windows)]
    out, wall, _, rss = timed([QUIP, "ppl", "--model", model] + common)
    j = json.loads(out.strip().splitlines()[-1])
    r = {"ppl": j["ppl"], "tokens": j["tokens"], "seconds": wall, "peak_rss_mib": rss}
    if os.path.realpath(model) != os.path.realpath(MODEL):
        out, _, _, _ = timed([QUIP, "ppl", "--model", model, "--reference", MODEL] + common)
        k = json.loads(out.strip().splitlines()[-1])
        r |= {"kl_divergence": k["kl_divergence"], "same_top1": k["same_top1"]}
    return r


def run(argv):
    name, rest = argv[0], argv[1:]
    opt = lambda key, default: rest[rest.index(key) + 1] if key in rest else default
    method, bits, seed = opt("--method", "quipsharp"), opt("--bits", "2"), opt("--seed", "0")
    wiki_windows = int(opt("--wiki-windows", "-1"))  # -1: no WikiText; 0: all of it
    # Everything after "--" goes to quip finetune (--steps, --lr, --windows, ...).
    tune_args = rest[rest.index("--") + 1:] if "--" in rest else []
    # --block-tune and --block-tune-* (with their values) before "--" go to quip quantize;
    # "--no-finetune" measures the quantized folder only (after = before).
    own = rest[:rest.index("--")] if "--" in rest else rest
    quantize_args = [a for i, a in enumerate(own)
                     if a.startswith("--block-tune") or (i > 0 and own[i - 1].startswith("--block-tune-"))]
    no_finetune = "--no-finetune" in own
    work = os.path.join(os.environ.get("FINETUNE_WORK", "/tmp"), f"finetune-{name}")
    qdir, tdir = work + "-q", work + "-tuned"
    # --from OTHER: tune OTHER's quantized folder again (another schedule); its "before" is reused.
    source = opt("--from", None)
    if source:
        qdir = os.path.join(os.environ.get("FINETUNE_WORK", "/tmp"), f"finetune-{source}-q")
    for d in ((tdir,) if source else (qdir, tdir)):
        if os.path.isdir(d):
            shutil.rmtree(d)
    texts = {"valid": (VALID, 0)} | ({"wiki": (WIKI, wiki_windows)} if wiki_windows >= 0 else {})
    r = {"name": name, "method": method, "bits": int(bits), "seed": int(seed), "threads": int(THREADS),
         "finetune_args": ["(none)"] if no_finetune else tune_args, "wiki_windows": wiki_windows,
         "quantize_args": quantize_args}
    if source:
        earlier = json.load(open(os.path.join(RESULTS, f"finetune-{source}.json")))
        r["quantize_seconds"], r["before"] = earlier["quantize_seconds"], earlier["before"]
        texts = {k: t for k, t in texts.items() if k in r["before"]}
    else:
        _, r["quantize_seconds"], r["quantize_cpu_seconds"], _ = timed([QUIP, "quantize", "--model", MODEL, "--calib", TRAIN, "--method",
                                                method, "--bits", bits, "--seed", seed, "-o", qdir, "--threads",
                                                THREADS] + quantize_args)
        report = json.load(open(os.path.join(qdir, "quant_report.json")))
        if "block_tune" in report:
            r["block_tune"] = report["block_tune"]
        r["before"] = {k: ppl(qdir, *t) for k, t in texts.items()}
    if no_finetune:
        r["after"] = r["before"]
        return save(r)
    out, wall, cpu, rss = timed([QUIP, "finetune", "--model", qdir, "--teacher", MODEL, "--calib", TRAIN, "-o", tdir,
                                 "--seed", seed, "--threads", THREADS] + tune_args)
    r["finetune"] = {"wall_seconds": wall, "cpu_seconds": cpu, "peak_rss_mib": rss,
                     "report": json.load(open(os.path.join(tdir, "quant_report.json")))["finetune"],
                     "stdout": out.strip()}
    r["after"] = {k: ppl(tdir, *t) for k, t in texts.items()}
    save(r)


def save(r):
    path = os.path.join(RESULTS, f"finetune-{r['name']}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(r, f, indent=1)
    os.replace(path + ".tmp", path)
    print(json.dumps({k: r[k] for k in ("name", "before", "after")}))


def wiki_only(argv):
    """wiki NAME WINDOWS DIR...: WikiText-2 perplexity of each folder on its first WINDOWS windows."""
    name, windows, dirs = argv[0], int(argv[1]), argv[2:]
    r = {"name": name, "wiki_windows": windows, "ppl": {d: ppl(d, WIKI, windows) for d in dirs}}
    with open(os.path.join(RESULTS, f"finetune-wiki-{name}.json"), "w") as f:
        json.dump(r, f, indent=1)
    print(json.dumps(r))


# fp32 perplexities of books-llama-5m on the full texts (docs/results.md, ctx 256); the
# WikiText subset's fp32 perplexity is measured (finetune-wiki-*.json, the fp32 model's entry).
FP32 = {"valid": 49.7610, "wiki": 348.1235}


def table_markdown(results_dir=RESULTS):
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(results_dir, "finetune-*.json")))
            if not os.path.basename(p).startswith("finetune-wiki-")]
    runs.sort(key=lambda r: (r["method"], r["bits"], r["seed"], r["finetune_args"]))
    wiki_only = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(results_dir, "finetune-wiki-*.json")))]
    fp32 = dict(FP32)
    for w in wiki_only:
        for d, v in w["ppl"].items():
            if os.path.basename(d.rstrip("/")) == "books-llama-5m":
                fp32["wiki"] = v["ppl"]  # the subset's fp32 perplexity
    ratio = lambda r, k, when: r[when][k]["ppl"] / fp32[k]
    has_kl = lambda r, k: "kl_divergence" in r["before"].get(k, {})
    kl = lambda r, k: (f" (KL {r['before'][k]['kl_divergence']:.4f} → {r['after'][k]['kl_divergence']:.4f})"
                       if has_kl(r, k) else "")
    kl_untuned = lambda r, k: f" (KL {r['before'][k]['kl_divergence']:.4f})" if has_kl(r, k) else ""
    cell = lambda r, k: (f"{ratio(r, k, 'before'):.4f} → **{ratio(r, k, 'after'):.4f}**{kl(r, k)}" if k in r["before"] else "–")
    out = ["Quantized with `quip quantize --method M --bits B --seed S` (128 windows of 256 from books train), "
           "tuned with `quip finetune` (512 windows × 512 steps, lr 3e-3 unless the options say otherwise), "
           "2 threads on the shared 2-core VM (1 where the JSON's `threads` says so). Cells: ppl ratio to fp32 before → after tuning; books valid is "
           f"the full text; WikiText-2 its first {max([r.get('wiki_windows', -1) for r in runs] + [300])} "
           f"windows of 256 (fp32 ppl {fp32['wiki']:.3f}); where measured, the mean KL divergence from the fp32 model "
           "(nats per token, `quip ppl --reference`) beside the ratio. Peak RSS of `quip finetune` beside `quip ppl` on the "
           "same quantized folder. Written by tools/finetune_measure.py.", "",
           "| method | bits | seed | finetune options | books valid | WikiText-2 | held-out KL | "
           "tuning wall (CPU) s | peak RSS finetune / ppl MB |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        if "finetune" not in r:  # measured with --no-finetune: the untuned folder alone
            out.append(f"| {r['method']} | {r['bits']} | {r['seed']} | not tuned | "
                       f"{r['before']['valid']['ppl'] / fp32['valid']:.4f}{kl_untuned(r, 'valid')} | "
                       + (f"{r['before']['wiki']['ppl'] / fp32['wiki']:.4f}{kl_untuned(r, 'wiki')}"
                          if "wiki" in r["before"] else "–")
                       + f" | – | – | – / {r['before']['valid']['peak_rss_mib']:.0f} |")
            continue
        f, rep = r["finetune"], r["finetune"]["report"]
        out.append(f"| {r['method']} | {r['bits']} | {r['seed']} | {' '.join(r.get('quantize_args', []) + r['finetune_args']) or 'defaults'} | "
                   f"{cell(r, 'valid')} | {cell(r, 'wiki')} | "
                   f"{rep['valid_kl_before']:.4f} → {rep['valid_kl_after']:.4f} (step {rep['best_step']}) | "
                   f"{f['wall_seconds']:.0f} ({f['cpu_seconds']:.0f}) | "
                   f"{f['peak_rss_mib']:.0f} / {r['before']['valid']['peak_rss_mib']:.0f}"
                   f"{' ¹' if 'note' in r else ''} |")
    notes = [r["note"] for r in runs if "note" in r]
    for w in wiki_only:  # folders tuned before this script (seed 0 of docs/finetune.md)
        ppl = {os.path.basename(d.rstrip("/")): v["ppl"] for d, v in w["ppl"].items()}
        q = [p for d, p in ppl.items() if d != "books-llama-5m"]
        if len(q) == 2:
            out.append(f"| {w.get('row', 'quipsharp | 2 | 0 | defaults')} | – | {q[0] / fp32['wiki']:.4f} → **{q[1] / fp32['wiki']:.4f}** "
                       "| – | – | – |")
    out += [""] + [f"¹ {n}." for n in notes[:1]]
    return "\n".join(out)


def table():
    print(table_markdown())


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "run":
        run(sys.argv[2:])
    elif len(sys.argv) >= 5 and sys.argv[1] == "wiki":
        wiki_only(sys.argv[2:])
    elif sys.argv[1:] == ["table"]:
        table()
    else:
        sys.exit(__doc__)
