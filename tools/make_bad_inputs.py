#!/usr/bin/env python3
"""Writes the malformed-input corpus of issue 6 into a directory (nothing binary is checked in).

    python3 tools/make_bad_inputs.py OUT_DIR [--only GROUP[,GROUP]] [--list-groups]

Every case is a model folder or file under OUT_DIR/<group>/<case>/ plus one JSON line in
OUT_DIR/manifest.jsonl:

    {"group": "safetensors", "name": "header-len-zero",
     "runs": [["info", "--model", "{case}/model"], ...],       # quip arguments, one list per run
     "expect": ["{case}/model/model.safetensors", "header length is 0"]}

"{case}" is the case folder, "{root}" OUT_DIR. Each run must fail with exactly one line
"quip: error: ..." containing every "expect" string; cases with "expect": null are valid
controls that must succeed (they prove the generator's baseline files are right).
tests/robustness/bad_inputs_test.cc runs the corpus through the real `quip` binary.

Standard library only: every file is built byte by byte from the format descriptions in
src/io/*.h (safetensors, llama2.c, tok*.bin, quip folders).
"""
import argparse
import json
import math
import os
import random
import shutil
import struct
import sys

# A tiny Llama: dim 16, 1 layer, GQA 2/1 heads of 8, vocab 300 (> 258 byte fallbacks of llama2.c
# tokenizers), untied head. Matches no real model; small enough that every run takes milliseconds.
CONFIG = dict(dim=16, hidden=40, layers=1, heads=2, kv_heads=1, head_dim=8, vocab=300, seq=64)
TEXT = ("Once upon a time there was a little girl named Lily. She liked to play in the park with her "
        "dog. One day the sun was hot and they sat under a big tree. ") * 4


def hf_config(c=CONFIG, **overrides):
    j = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
         "hidden_size": c["dim"], "intermediate_size": c["hidden"], "num_hidden_layers": c["layers"],
         "num_attention_heads": c["heads"], "num_key_value_heads": c["kv_heads"], "head_dim": c["head_dim"],
         "max_position_embeddings": c["seq"], "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "rope_scaling": None,
         "tie_word_embeddings": False, "vocab_size": c["vocab"], "bos_token_id": 1, "eos_token_id": 2,
         "torch_dtype": "float32"}
    j.update(overrides)
    return j


LINEARS = [("self_attn.q_proj", "q", "d"), ("self_attn.k_proj", "kv", "d"), ("self_attn.v_proj", "kv", "d"),
           ("self_attn.o_proj", "d", "q"), ("mlp.gate_proj", "h", "d"), ("mlp.up_proj", "h", "d"),
           ("mlp.down_proj", "d", "h")]


def dims(c=CONFIG):
    return {"d": c["dim"], "q": c["heads"] * c["head_dim"], "kv": c["kv_heads"] * c["head_dim"], "h": c["hidden"],
            "v": c["vocab"]}


def random_weights(seed=1, c=CONFIG):
    """HF-named F32 tensors: name -> (shape, list of floats), in a fixed order."""
    rng = random.Random(seed)
    n = dims(c)
    out = {}

    def add(name, shape, scale, offset=0.0):
        count = 1
        for s in shape:
            count *= s
        out[name] = (list(shape), [offset + scale * rng.gauss(0.0, 1.0) for _ in range(count)])

    add("model.embed_tokens.weight", [n["v"], n["d"]], 1.0)
    for l in range(c["layers"]):
        p = "model.layers.%d." % l
        add(p + "input_layernorm.weight", [n["d"]], 0.1, 1.0)
        add(p + "post_attention_layernorm.weight", [n["d"]], 0.1, 1.0)
        for name, rows, cols in LINEARS:
            add(p + name + ".weight", [n[rows], n[cols]], 1.0 / math.sqrt(n[cols]))
    add("model.norm.weight", [n["d"]], 0.1, 1.0)
    add("lm_head.weight", [n["v"], n["d"]], 1.0 / math.sqrt(n["d"]))
    return out


DTYPE_SIZE = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I8": 1, "U8": 1, "I16": 2, "U16": 2, "I32": 4, "U32": 4,
              "I64": 8}


def f32_bytes(values):
    return struct.pack("<%df" % len(values), *values)


def f16_bytes(values):
    return struct.pack("<%de" % len(values), *values)


def bf16_bytes(values):
    out = bytearray()
    for v in values:
        (bits,) = struct.unpack("<I", struct.pack("<f", v))
        if math.isnan(v):
            h = (bits >> 16) | 0x40
        else:
            h = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        out += struct.pack("<H", h & 0xFFFF)
    return bytes(out)


def safetensors_bytes(tensors, metadata=None, header_text=None, header_len=None):
    """tensors: list of (name, dtype, shape, raw bytes). Returns (file bytes, layout) where layout
    records the header end and each tensor's [begin, end) in the file, for truncation cases."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    offset = 0
    data = b""
    spans = []
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(raw)]}
        spans.append((name, offset, offset + len(raw)))
        offset += len(raw)
        data += raw
    text = header_text if header_text is not None else json.dumps(header, separators=(",", ":"))
    text = text.encode() if isinstance(text, str) else text
    if header_text is None:
        text += b" " * ((8 - len(text) % 8) % 8)
    n = len(text) if header_len is None else header_len
    blob = struct.pack("<Q", n) + text + data
    base = 8 + len(text)
    return blob, {"header_end": base, "tensors": [(nm, base + b, base + e) for nm, b, e in spans]}


def f32_tensors(weights):
    return [(name, "F32", shape, f32_bytes(vals)) for name, (shape, vals) in weights.items()]


def write(path, data, mode="wb"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, mode) as f:
        f.write(data)


def write_json(path, obj):
    write(path, json.dumps(obj, indent=2).encode())


def write_hf(folder, weights=None, config=None, tensors=None, metadata=None):
    weights = weights if weights is not None else random_weights()
    write_json(os.path.join(folder, "config.json"), config if config is not None else hf_config())
    blob, layout = safetensors_bytes(tensors if tensors is not None else f32_tensors(weights),
                                     metadata if metadata is not None else {"format": "pt"})
    write(os.path.join(folder, "model.safetensors"), blob)
    return layout


def write_sharded(folder, shards=2, weights=None):
    weights = weights if weights is not None else random_weights()
    write_json(os.path.join(folder, "config.json"), hf_config())
    names = list(weights)
    files = ["model-%05d-of-%05d.safetensors" % (s + 1, shards) for s in range(shards)]
    weight_map = {}
    for s in range(shards):
        part = {n: weights[n] for i, n in enumerate(names) if i % shards == s}
        write(os.path.join(folder, files[s]), safetensors_bytes(f32_tensors(part), {"format": "pt"})[0])
        weight_map.update({n: files[s] for n in part})
    index = {"metadata": {"total_size": 0}, "weight_map": weight_map}
    write_json(os.path.join(folder, "model.safetensors.index.json"), index)
    return index, files


# ---- llama2.c


def llama2c_bytes(weights=None, c=CONFIG, header=None, shared_classifier=False):
    weights = weights if weights is not None else random_weights()
    hd = c["head_dim"]

    def interleave(vals, rows_per_head, heads, cols):
        # rotate_half rows (part*half + i) back to llama2.c's interleaved rows (2i + part)
        out = list(vals)
        half = hd // 2
        for h in range(heads):
            for i in range(half):
                for part in range(2):
                    dst = (h * hd + 2 * i + part) * cols
                    src = (h * hd + part * half + i) * cols
                    out[dst:dst + cols] = vals[src:src + cols]
        return out

    vocab = c["vocab"] if shared_classifier else -c["vocab"]
    h = header if header is not None else [c["dim"], c["hidden"], c["layers"], c["heads"], c["kv_heads"], vocab,
                                           c["seq"]]
    out = struct.pack("<7i", *h)
    w = lambda n: weights[n][1]
    L = c["layers"]
    per = lambda suffix, f=lambda v: v: b"".join(
        f32_bytes(f(w("model.layers.%d.%s" % (l, suffix)))) for l in range(L))
    out += f32_bytes(w("model.embed_tokens.weight"))
    out += per("input_layernorm.weight")
    out += per("self_attn.q_proj.weight", lambda v: interleave(v, hd, c["heads"], c["dim"]))
    out += per("self_attn.k_proj.weight", lambda v: interleave(v, hd, c["kv_heads"], c["dim"]))
    out += per("self_attn.v_proj.weight")
    out += per("self_attn.o_proj.weight")
    out += per("post_attention_layernorm.weight")
    out += per("mlp.gate_proj.weight")
    out += per("mlp.down_proj.weight")
    out += per("mlp.up_proj.weight")
    out += f32_bytes(w("model.norm.weight"))
    out += f32_bytes([0.0] * (c["seq"] * hd))  # freq_cis_real + freq_cis_imag
    if not shared_classifier:
        out += f32_bytes(w("lm_head.weight"))
    return out


def tokenizer_bin(vocab=CONFIG["vocab"], max_len=None, entries=None):
    """llama2.c tok*.bin: int32 max_token_length, then per token {f32 score, i32 len, bytes}."""
    if entries is None:
        entries = [(0.0, b"<unk>"), (0.0, b"\n<s>\n"), (0.0, b"\n</s>\n")]
        entries += [(0.0, b"<0x%02X>" % b) for b in range(256)]
        words = [b" ", b"e", b"t", b"a", b"o", b" t", b"he", b" the", b"in", b" a", b"er", b"re", b"on", b"an",
                 b"nd", b"ed", b" s", b"ar", b"ay", b"ll", b"Li", b"ly", b"ig", b"ir", b" w", b"as", b"pl"]
        i = 0
        while len(entries) < vocab:
            tok = words[i] if i < len(words) else b"x%d" % i
            entries.append((-float(i), tok))
            i += 1
    if max_len is None:
        max_len = max(len(t) for _, t in entries)
    out = struct.pack("<i", max_len)
    for score, tok in entries:
        out += struct.pack("<fi", score, len(tok)) + tok
    return out, entries


# ---- quip folders (src/io/quip_format.h)


def packed_bytes(n, bits):
    return (n * bits + 7) // 8


def quip_tensors_and_meta(bits=2, incoherence="kron", seed=3):
    """A valid quantized folder's tensors (codes random) and its __metadata__."""
    rng = random.Random(seed)
    w = random_weights(seed)
    n = dims()
    tensors = []
    linears = {}
    tensors.append(("model.embed_tokens.weight", "F32", w["model.embed_tokens.weight"][0],
                    f32_bytes(w["model.embed_tokens.weight"][1])))
    for l in range(CONFIG["layers"]):
        p = "model.layers.%d." % l
        for norm in ("input_layernorm.weight", "post_attention_layernorm.weight"):
            tensors.append((p + norm, "F32", w[p + norm][0], f32_bytes(w[p + norm][1])))
        for name, rows, cols in LINEARS:
            r, cc = n[rows], n[cols]
            full = p + name
            codes = bytes(rng.randrange(256) for _ in range(r * packed_bytes(cc, bits)))
            tensors.append((full + ".codes", "U8", [r, packed_bytes(cc, bits)], codes))
            tensors.append((full + ".scale", "F32", [1], f32_bytes([0.05])))
            tensors.append((full + ".zero", "F32", [1], f32_bytes([(2 ** bits - 1) / 2.0])))
            tensors.append((full + ".rescale", "F32", [cc], f32_bytes([1.0 + 0.1 * rng.random() for _ in range(cc)])))
            info = {"bits": bits, "incoherence": incoherence}
            if incoherence == "kron":
                info.update(seed_u=rng.randrange(2 ** 63), seed_v=rng.randrange(2 ** 63))
            linears[full] = info
    tensors.append(("model.norm.weight", "F32", w["model.norm.weight"][0], f32_bytes(w["model.norm.weight"][1])))
    tensors.append(("lm_head.weight", "F32", w["lm_head.weight"][0], f32_bytes(w["lm_head.weight"][1])))
    meta = {"format": "pt", "quip.format_version": "1", "quip.linears": json.dumps(linears),
            "quip.method": "quip", "quip.bits": str(bits), "quip.rho": "1.8", "quip.seed": "0",
            "quip.tool_version": "0.1.0"}
    return tensors, meta, linears


def write_quip(folder, tensors=None, meta=None, config=None, bits=2):
    t, m, _ = quip_tensors_and_meta(bits)
    tensors = t if tensors is None else tensors
    meta = m if meta is None else meta
    cfg = config if config is not None else dict(hf_config(), quantization_config={
        "quant_method": "quip", "format_version": "1"})
    write_json(os.path.join(folder, "config.json"), cfg)
    write(os.path.join(folder, "model.safetensors"), safetensors_bytes(tensors, meta)[0])


# ---- the corpus


class Corpus:
    def __init__(self, root, only):
        self.root = root
        self.only = only
        self.cases = []
        self.names = set()

    def case(self, group, name, runs, expect):
        """Registers a case; returns its folder (created empty) or None when its group is skipped."""
        assert (group, name) not in self.names, name
        self.names.add((group, name))
        if self.only and group not in self.only:
            return None
        folder = os.path.join(self.root, group, name)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        self.cases.append({"group": group, "name": name, "runs": runs, "expect": expect})
        return folder


def info(path):
    return ["info", "--model", path]


def ppl(path, text="{root}/text.txt"):
    return ["ppl", "--threads", "1", "--ctx", "16", "--max-windows", "2", "--model", path, "--text", text]


def quantize(path, out="{case}/out"):
    return ["quantize", "--threads", "1", "--model", path, "--calib", "{root}/text.txt", "--nsamples", "4",
            "--ctx", "16", "--bits", "2", "-o", out]


def safetensors_cases(cx):
    g = "safetensors"
    model = "{case}/model"
    st = "{case}/model/model.safetensors"
    runs = [info(model), quantize(model)]

    def hf_with(name, expect, tensors=None, metadata=None, blob=None, weights=None, config=None, only_runs=None):
        folder = cx.case(g, name, only_runs or runs, expect)
        if folder is None:
            return None
        m = os.path.join(folder, "model")
        if blob is not None:
            write_json(os.path.join(m, "config.json"), config or hf_config())
            write(os.path.join(m, "model.safetensors"), blob)
        else:
            write_hf(m, weights=weights, tensors=tensors, metadata=metadata, config=config)
        return m

    # Valid control: the baseline folder must load.
    hf_with("valid-control", None, only_runs=[info(model)])  # (no tokenizer: quantize would stop there)

    # Truncation at every section boundary: inside the length, after it, inside the header,
    # after the header, at and inside every tensor, one byte short.
    full, layout = safetensors_bytes(f32_tensors(random_weights()), {"format": "pt"})
    cuts = {"empty": 0, "inside-length": 4, "after-length": 8, "mid-header": layout["header_end"] // 2,
            "after-header": layout["header_end"]}
    for name, begin, end in layout["tensors"]:
        short = name.replace("model.", "").replace(".weight", "").replace(".", "-")
        cuts["at-" + short] = begin
        cuts["inside-" + short] = (begin + end) // 2
    cuts["one-byte-short"] = len(full) - 1
    for label, cut in cuts.items():
        if cut < 8:
            problem = "too short"
        elif cut < layout["header_end"]:
            problem = "runs past the end of the file"
        else:
            problem = "data section"  # "offsets ... out of range of the data section" or "shape ... more elements"
        hf_with("truncated-" + label, [st, problem], blob=full[:cut])

    def raw(header_obj, data_len, header_len=None, text=None):
        t = text if text is not None else json.dumps(header_obj)
        return safetensors_bytes([], header_text=t, header_len=header_len)[0] + b"\0" * data_len

    one = lambda **kw: {"a": dict({"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, **kw)}
    hf_with("header-len-zero", [st, "header length is 0"], blob=raw({}, 16, header_len=0))
    hf_with("header-len-huge", [st, "exceeds the"], blob=raw({}, 16, header_len=2 ** 64 - 1))
    hf_with("header-len-over-limit", [st, "exceeds the"], blob=raw({}, 16, header_len=(100 << 20) + 1))
    hf_with("header-len-beyond-eof", [st, "runs past the end of the file"], blob=raw({}, 16, header_len=1000))
    hf_with("header-invalid-json", [st, "not valid JSON"], blob=raw(None, 16, text='{"a": [1, 2'))
    hf_with("header-trailing-garbage", [st, "not valid JSON"], blob=raw(None, 16, text='{} {}'))
    hf_with("header-nul-padding", [st, "not valid JSON"], blob=raw(None, 16, text='{}\0\0\0\0\0\0'))
    hf_with("header-not-utf8", [st, "not valid JSON"], blob=raw(None, 16, text=b'{"\xff\xfe": 1}'))
    hf_with("header-not-object", [st, "not a JSON object"], blob=raw([1, 2], 16))
    hf_with("header-deeply-nested", [st, "nested"], blob=raw(None, 16, text="[" * 200000 + "]" * 200000))
    hf_with("header-empty-object", [st, "missing tensor 'model.embed_tokens.weight'"], blob=raw({}, 0))
    hf_with("entry-not-object", [st, "tensor 'a'", "not an object"], blob=raw({"a": 5}, 16))
    hf_with("dtype-missing", [st, "tensor 'a'", "missing dtype"],
            blob=raw({"a": {"shape": [4], "data_offsets": [0, 16]}}, 16))
    hf_with("dtype-not-string", [st, "tensor 'a'", "missing dtype"], blob=raw(one(dtype=7), 16))
    hf_with("dtype-unknown", [st, "unsupported dtype 'F8_E4M3'"], blob=raw(one(dtype="F8_E4M3"), 16))
    hf_with("shape-missing", [st, "tensor 'a'", "missing shape"],
            blob=raw({"a": {"dtype": "F32", "data_offsets": [0, 16]}}, 16))
    hf_with("shape-not-array", [st, "tensor 'a'", "missing shape"], blob=raw(one(shape=4), 16))
    hf_with("shape-negative-dim", [st, "tensor 'a'", "negative"], blob=raw(one(shape=[-4]), 16))
    hf_with("shape-float-dim", [st, "tensor 'a'", "non-integer"], blob=raw(one(shape=[4.5]), 16))
    hf_with("shape-absurd-dim", [st, "tensor 'a'", "more elements than the data section"],
            blob=raw(one(shape=[10 ** 15]), 16))
    hf_with("shape-dim-over-int64", [st, "tensor 'a'", "more elements than the data section"],
            blob=raw(one(shape=[2 ** 64 - 1]), 16))
    hf_with("shape-product-overflow", [st, "tensor 'a'", "more elements than the data section"],
            blob=raw(one(shape=[2 ** 32, 2 ** 32, 4]), 16))
    hf_with("shape-huge-rank", [st, "tensor 'a'", "dimensions"], blob=raw(one(shape=[1] * 100000), 16))
    hf_with("offsets-missing", [st, "tensor 'a'", "data_offsets"], blob=raw({"a": {"dtype": "F32", "shape": [4]}}, 16))
    hf_with("offsets-three", [st, "tensor 'a'", "data_offsets"], blob=raw(one(data_offsets=[0, 8, 16]), 16))
    hf_with("offsets-negative", [st, "tensor 'a'", "not non-negative integers"],
            blob=raw(one(data_offsets=[-16, 0]), 16))
    hf_with("offsets-float", [st, "tensor 'a'", "not non-negative integers"],
            blob=raw(one(data_offsets=[0.0, 16.0]), 16))
    hf_with("offsets-reversed", [st, "tensor 'a'", "out of range"], blob=raw(one(data_offsets=[16, 0]), 16))
    hf_with("offsets-beyond-data", [st, "tensor 'a'", "out of range"], blob=raw(one(data_offsets=[8, 24]), 16))
    hf_with("offsets-huge", [st, "tensor 'a'", "out of range"],
            blob=raw(one(data_offsets=[2 ** 64 - 16, 2 ** 64 - 1]), 16))
    hf_with("dtype-shape-mismatch", [st, "tensor 'a'", "needs 12"], blob=raw(one(shape=[3]), 16))
    hf_with("dtype-size-mismatch", [st, "tensor 'a'", "needs 32"], blob=raw(one(dtype="F64"), 16))
    hf_with("overlapping-tensors", [st, "overlap"], blob=raw(
        {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
         "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}, 24))
    hf_with("overlap-hidden-by-empty-tensor", [st, "overlap"], blob=raw(
        {"a": {"dtype": "F32", "shape": [25], "data_offsets": [0, 100]},
         "e": {"dtype": "F32", "shape": [0], "data_offsets": [5, 5]},
         "c": {"dtype": "F32", "shape": [4], "data_offsets": [50, 66]}}, 100))
    hf_with("duplicate-tensor-name", [st, 'duplicate key "a"'], blob=raw(None, 32, text=(
        '{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},'
        '"a":{"dtype":"F32","shape":[4],"data_offsets":[16,32]}}')))
    hf_with("metadata-not-object", [st, "__metadata__"], blob=raw({"__metadata__": [1]}, 0))
    hf_with("metadata-value-not-string", [st, "__metadata__", "not a string"],
            blob=raw({"__metadata__": {"format": 1}}, 0))
    hf_with("tensor-name-with-newline", [st, 'tensor name "bad\\nname" contains a control character'],
            blob=raw({"bad\nname": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 16))
    hf_with("tensor-name-with-nul", [st, 'tensor name "bad\\u0000name" contains a control character'],
            blob=raw({"bad\0name": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 16))

    # Whole-model problems: right bytes, wrong claims.
    w = random_weights()
    tensors = f32_tensors(w)
    emb = "model.embed_tokens.weight"
    hf_with("tensor-missing", [st, "missing tensor 'model.layers.0.mlp.up_proj.weight'"],
            tensors=[t for t in tensors if t[0] != "model.layers.0.mlp.up_proj.weight"])
    hf_with("tensor-transposed", [st, "model.layers.0.mlp.down_proj.weight", "config.json implies"],
            tensors=[(n, d, s[::-1] if n.endswith("down_proj.weight") else s, b) for n, d, s, b in tensors])
    hf_with("tensor-int-dtype", [st, emb, "expected a float type"],
            tensors=[(n, "I32" if n == emb else d, s, b) for n, d, s, b in tensors])

    def poisoned(name, index, value, dtype="F32"):
        out = []
        for n, (shape, vals) in w.items():
            vals = list(vals)
            if n == name:
                vals[index] = value
            enc = {"F32": f32_bytes, "F16": f16_bytes, "BF16": bf16_bytes}[dtype]
            out.append((n, dtype, shape, enc(vals)))
        return out

    nan, inf = float("nan"), float("inf")
    hf_with("nan-in-embedding", [st, emb, "NaN or Inf"], tensors=poisoned(emb, 17, nan))
    hf_with("inf-in-norm", [st, "model.norm.weight", "NaN or Inf"], tensors=poisoned("model.norm.weight", 3, -inf))
    hf_with("nan-in-linear", [st, "model.layers.0.self_attn.q_proj.weight", "NaN or Inf"],
            tensors=poisoned("model.layers.0.self_attn.q_proj.weight", 5, nan))
    hf_with("inf-in-f16-linear", [st, "model.layers.0.mlp.down_proj.weight", "NaN or Inf"],
            tensors=poisoned("model.layers.0.mlp.down_proj.weight", 0, inf, "F16"))
    hf_with("nan-in-bf16-head", [st, "lm_head.weight", "NaN or Inf"],
            tensors=poisoned("lm_head.weight", 100, nan, "BF16"))


def index_cases(cx):
    g = "index"
    model = "{case}/model"
    idx = "{case}/model/model.safetensors.index.json"
    runs = [info(model), quantize(model)]

    def sharded(name, expect, mutate):
        folder = cx.case(g, name, runs if expect else [info(model)], expect)
        if folder is None:
            return
        m = os.path.join(folder, "model")
        index, files = write_sharded(m)
        mutate(m, index, files)

    def set_index(obj=None, text=None):
        def f(m, index, files):
            path = os.path.join(m, "model.safetensors.index.json")
            if text is not None:
                write(path, text.encode())
            else:
                write_json(path, obj(index, files) if callable(obj) else obj)
        return f

    def with_map(edit):
        def f(index, files):
            wm = dict(index["weight_map"])
            edit(wm, files)
            return {"metadata": index["metadata"], "weight_map": wm}
        return f

    sharded("valid-control", None, lambda m, i, f: None)
    sharded("not-json", [idx, "not valid JSON"], set_index(text="weight_map: nothing"))
    sharded("empty-file", [idx, "not valid JSON"], set_index(text=""))
    sharded("not-object", [idx, "weight_map"], set_index(obj=[1, 2]))
    sharded("no-weight-map", [idx, "missing object 'weight_map'"], set_index(obj={"metadata": {}}))
    sharded("weight-map-not-object", [idx, "missing object 'weight_map'"], set_index(obj={"weight_map": ["a"]}))
    sharded("weight-map-empty", [idx, "weight_map is empty"], set_index(obj={"weight_map": {}}))
    sharded("entry-not-string", [idx, "model.norm.weight", "is not a file name"],
            set_index(obj=with_map(lambda wm, f: wm.__setitem__("model.norm.weight", 3))))
    sharded("path-traversal", [idx, "outside the folder", "../model-00001-of-00002.safetensors"],
            set_index(obj=with_map(lambda wm, f: wm.__setitem__("model.norm.weight", "../" + f[0]))))
    sharded("absolute-path", [idx, "outside the folder", "/etc/passwd"],
            set_index(obj=with_map(lambda wm, f: wm.__setitem__("model.norm.weight", "/etc/passwd"))))
    sharded("shard-is-folder", ["{case}/model/.", "not a regular file"],
            set_index(obj=with_map(lambda wm, f: wm.__setitem__("model.norm.weight", "."))))
    sharded("shard-name-control-char", [idx, "model.norm.weight", "control character"],
            set_index(obj=with_map(lambda wm, f: wm.__setitem__("model.norm.weight", f[0] + "\n"))))
    sharded("shard-missing", ["{case}/model/model-00002-of-00002.safetensors", "cannot open"],
            lambda m, i, f: os.remove(os.path.join(m, f[1])))
    sharded("tensor-in-wrong-shard", [idx, "model.norm.weight", "not stored there"],
            set_index(obj=with_map(lambda wm, f: wm.__setitem__(
                "model.norm.weight", f[1] if wm["model.norm.weight"] == f[0] else f[0]))))
    sharded("tensor-not-in-any-shard", [idx, "model.extra.weight", "not stored there"],
            set_index(obj=with_map(lambda wm, f: wm.__setitem__("model.extra.weight", f[0]))))

    def duplicate(m, index, files):
        w = random_weights()
        part = {n: w[n] for n, f in index["weight_map"].items() if f == files[1]}
        part["model.norm.weight"] = w["model.norm.weight"]
        part.update({n: w[n] for n, f in index["weight_map"].items() if f == files[1]})
        write(os.path.join(m, files[1]), safetensors_bytes(f32_tensors(part), {"format": "pt"})[0])
    sharded("tensor-in-two-shards", ["model.norm.weight", "is also stored in"], duplicate)

    def truncate_shard(m, index, files):
        p = os.path.join(m, files[1])
        with open(p, "rb") as fh:
            data = fh.read()
        write(p, data[:len(data) // 2])
    sharded("shard-truncated", ["{case}/model/model-00002-of-00002.safetensors", "out of range"], truncate_shard)
    sharded("index-deeply-nested", [idx, "nested"], set_index(text='{"weight_map": ' + "[" * 100000 + "]" * 100000 + "}"))


def config_cases(cx):
    g = "config"
    model = "{case}/model"
    cfg = "{case}/model/config.json"
    runs = [info(model), quantize(model)]

    def with_config(name, expect, obj=None, text=None):
        folder = cx.case(g, name, runs if expect else [info(model)], expect)
        if folder is None:
            return
        m = os.path.join(folder, "model")
        write_hf(m)
        path = os.path.join(m, "config.json")
        if text is not None:
            write(path, text.encode() if isinstance(text, str) else text)
        else:
            write_json(path, obj)

    def without(key):
        c = hf_config()
        del c[key]
        return c

    with_config("valid-control", None, obj=hf_config())
    with_config("not-json", [cfg, "not valid JSON"], text='{\n  "hidden_size": 16,\n  oops\n}\n')
    with_config("empty", [cfg, "not valid JSON"], text="")
    with_config("not-object", [cfg, "not a JSON object"], obj=[hf_config()])
    with_config("deeply-nested", [cfg, "nested"], text='{"rope_scaling": ' + "[" * 100000 + "]" * 100000 + "}")
    with_config("missing-field", [cfg, "missing required field 'intermediate_size'"], obj=without("intermediate_size"))
    with_config("field-wrong-type", [cfg, "'hidden_size' must be an integer"], obj=hf_config(hidden_size="16"))
    with_config("field-float", [cfg, "'num_hidden_layers' must be an integer"], obj=hf_config(num_hidden_layers=1.5))
    with_config("field-over-int64", [cfg, "'vocab_size' must be an integer"],
                text=json.dumps(hf_config()).replace('"vocab_size": 300', '"vocab_size": 99999999999999999999999'))
    with_config("field-over-int32", [cfg, "'hidden_size'", "out of range"], obj=hf_config(hidden_size=2 ** 40))
    with_config("model-type-gpt2", [cfg, "unsupported model_type 'gpt2'"], obj=hf_config(model_type="gpt2"))
    with_config("model-type-not-string", [cfg, "'model_type' must be a string"], obj=hf_config(model_type=42))
    with_config("hidden-act-gelu", [cfg, "unsupported hidden_act 'gelu'"], obj=hf_config(hidden_act="gelu"))
    with_config("hidden-act-not-string", [cfg, "'hidden_act' must be a string"], obj=hf_config(hidden_act=None))
    with_config("mlp-bias", [cfg, "mlp_bias"], obj=hf_config(mlp_bias=True))
    with_config("bias-not-bool", [cfg, "'attention_bias' must be a boolean"], obj=hf_config(attention_bias="no"))
    with_config("tie-not-bool", [cfg, "'tie_word_embeddings' must be a boolean"],
                obj=hf_config(tie_word_embeddings="yes"))
    with_config("rope-scaling", [cfg, "rope_scaling"], obj=hf_config(rope_scaling={"type": "dynamic", "factor": 2.0}))
    with_config("negative-hidden-size", [cfg, "hidden_size = -16"], obj=hf_config(hidden_size=-16))
    with_config("zero-heads", [cfg, "num_attention_heads = 0"], obj=hf_config(num_attention_heads=0))
    with_config("zero-kv-heads", [cfg, "num_key_value_heads = 0"], obj=hf_config(num_key_value_heads=0))
    with_config("heads-not-multiple", [cfg, "not a multiple of num_key_value_heads"],
                obj=hf_config(num_attention_heads=3, num_key_value_heads=2))
    with_config("odd-head-dim", [cfg, "head_dim 7 must be even"], obj=hf_config(head_dim=7))
    with_config("absurd-head-dim", [cfg, "out of range"],
                obj=hf_config(head_dim=2 ** 17, num_attention_heads=2 ** 17, num_key_value_heads=2 ** 17))
    with_config("absurd-layers", [cfg, "num_hidden_layers = 1000000"], obj=hf_config(num_hidden_layers=10 ** 6))
    with_config("zero-vocab", [cfg, "vocab_size = 0"], obj=hf_config(vocab_size=0))
    with_config("zero-positions", [cfg, "max_position_embeddings = 0"], obj=hf_config(max_position_embeddings=0))
    with_config("zero-eps", [cfg, "rms_norm_eps must be positive"], obj=hf_config(rms_norm_eps=0))
    with_config("eps-not-number", [cfg, "'rms_norm_eps' must be a number"], obj=hf_config(rms_norm_eps="1e-5"))
    with_config("eps-overflows-float", [cfg, "'rms_norm_eps'", "finite"],
                text=json.dumps(hf_config()).replace('"rms_norm_eps": 1e-05', '"rms_norm_eps": 1e300'))
    with_config("theta-overflows-double", [cfg, "not valid JSON", "number overflow", "1e999"],
                text=json.dumps(hf_config()).replace('"rope_theta": 10000.0', '"rope_theta": 1e999'))
    with_config("bos-outside-vocab", [cfg, "bos_token_id 300 is outside the vocabulary"],
                obj=hf_config(bos_token_id=300))
    with_config("eos-negative", [cfg, "eos_token_id -1 is outside the vocabulary"], obj=hf_config(eos_token_id=-1))
    with_config("disagrees-with-tensors", ["{case}/model/model.safetensors", "config.json implies"],
                obj=hf_config(intermediate_size=41))
    folder = cx.case(g, "config-is-folder", runs, [cfg, "not a regular file"])
    if folder:
        write_hf(os.path.join(folder, "model"))
        os.remove(os.path.join(folder, "model", "config.json"))
        os.makedirs(os.path.join(folder, "model", "config.json"))


def llama2c_cases(cx):
    g = "llama2c"
    c = CONFIG
    good = [c["dim"], c["hidden"], c["layers"], c["heads"], c["kv_heads"], -c["vocab"], c["seq"]]
    tok, _ = tokenizer_bin()

    def case(name, expect, blob, runs=None, folder_runs=False):
        path = "{case}/model.bin"
        r = runs if runs is not None else [info(path), quantize(path), ppl(path)]
        folder = cx.case(g, name, r, expect)
        if folder is None:
            return
        write(os.path.join(folder, "model.bin"), blob)
        write(os.path.join(folder, "tok%d.bin" % c["vocab"]), tok)

    def header(i, v):
        h = list(good)
        h[i] = v
        return h

    full = llama2c_bytes()
    b = "{case}/model.bin"
    case("valid-control", None, full)
    case("empty", [b, "too short for the 28-byte llama2.c header"], b"")
    case("shorter-than-header", [b, "too short for the 28-byte llama2.c header"], full[:12])
    case("header-only", [b, "implies"], full[:28])
    case("truncated-by-4", [b, "implies"], full[:-4])
    case("truncated-mid-weights", [b, "implies"], full[:len(full) // 2])
    case("extra-bytes", [b, "implies"], full + b"\0" * 8)
    case("negative-dim", [b, "dim -16"], llama2c_bytes(header=header(0, -16)))
    case("zero-dim", [b, "dim 0"], llama2c_bytes(header=header(0, 0)))
    case("int-max-dim", [b, "hidden_size = 2147483647"],
         llama2c_bytes(header=[2 ** 31 - 1, 40, 1, 1, 1, -300, 64]))
    case("zero-heads", [b, "n_heads 0"], llama2c_bytes(header=header(3, 0)))
    case("negative-hidden", [b, "intermediate_size = -40"], llama2c_bytes(header=header(1, -40)))
    case("zero-layers", [b, "num_hidden_layers = 0"], llama2c_bytes(header=header(2, 0)))
    case("zero-kv-heads", [b, "num_key_value_heads = 0"], llama2c_bytes(header=header(4, 0)))
    case("kv-heads-not-divisor", [b, "not a multiple of num_key_value_heads"], llama2c_bytes(header=header(4, 3)))
    case("dim-not-multiple-of-heads", [b, "not a positive multiple of n_heads"], llama2c_bytes(header=header(3, 3)))
    case("odd-head-dim", [b, "must be even"], llama2c_bytes(header=[14, 40, 1, 2, 1, -300, 64]))
    case("zero-vocab", [b, "vocab_size = 0"], llama2c_bytes(header=header(5, 0)))
    case("int-min-vocab", [b, "vocab_size = 0"], llama2c_bytes(header=header(5, -2 ** 31)))
    case("zero-seq", [b, "max_position_embeddings = 0"], llama2c_bytes(header=header(6, 0)))
    case("huge-seq", [b, "implies"], llama2c_bytes(header=header(6, 2 ** 22)))
    case("all-int-max", [b, "out of range"], llama2c_bytes(header=[2 ** 31 - 1] * 7))
    case("shared-flag-but-unshared-data", [b, "implies"], llama2c_bytes(header=header(5, 300)))
    w = random_weights()
    shape, vals = w["model.layers.0.mlp.gate_proj.weight"]
    w["model.layers.0.mlp.gate_proj.weight"] = (shape, [float("nan")] + vals[1:])
    case("nan-weight", [b, "w1", "NaN or Inf"], llama2c_bytes(weights=w))
    w = random_weights()
    shape, vals = w["model.embed_tokens.weight"]
    w["model.embed_tokens.weight"] = (shape, vals[:5] + [float("inf")] + vals[6:])
    case("inf-embedding", [b, "token_embedding", "NaN or Inf"], llama2c_bytes(weights=w))

    # Folder forms.
    folder = cx.case(g, "folder-two-checkpoints", [info("{case}/model")], ["{case}/model", "two llama2.c checkpoints"])
    if folder:
        write(os.path.join(folder, "model", "a.bin"), full)
        write(os.path.join(folder, "model", "b.bin"), full)
    # A .bin with a valid header but the wrong size is a damaged checkpoint, reported as truncated (issue 13).
    folder = cx.case(g, "folder-truncated-checkpoint", [info("{case}/model")],
                     ["{case}/model/broken.bin", "truncated llama2.c checkpoint"])
    if folder:
        write(os.path.join(folder, "model", "tok300.bin"), tok)
        write(os.path.join(folder, "model", "broken.bin"), full[:-4])
    folder = cx.case(g, "checkpoint-is-folder", [info("{case}/model.bin")], ["{case}/model.bin", "not a model folder"])
    if folder:
        os.makedirs(os.path.join(folder, "model.bin"))


def tokenizer_cases(cx):
    g = "tokenizer"
    full = llama2c_bytes()
    tok, entries = tokenizer_bin()
    tb = "{case}/tok300.bin"

    def l2c(name, expect, tok_bytes):
        folder = cx.case(g, name, [ppl("{case}/model.bin"), quantize("{case}/model.bin")], expect)
        if folder is None:
            return
        write(os.path.join(folder, "model.bin"), full)
        if tok_bytes is not None:
            write(os.path.join(folder, "tok300.bin"), tok_bytes)

    l2c("valid-control", None, tok)
    # offsets of token 100's fields in the file
    at = 4 + sum(8 + len(t) for _, t in entries[:100])
    l2c("missing", ["{case}", "no tokenizer"], None)
    l2c("empty", [tb, "truncated at the header"], b"")
    l2c("truncated-in-header", [tb, "truncated at the header"], tok[:2])
    l2c("truncated-at-score", [tb, "truncated at the score of token 100"], tok[:at + 2])
    l2c("truncated-at-length", [tb, "truncated at the length of token 100"], tok[:at + 6])
    l2c("truncated-in-text", [tb, "truncated at the text of token 299"], tok[:-1])
    l2c("max-len-zero", [tb, "max_token_length 0 is out of range"], struct.pack("<i", 0) + tok[4:])
    l2c("max-len-negative", [tb, "max_token_length -5 is out of range"], struct.pack("<i", -5) + tok[4:])
    l2c("token-longer-than-max", [tb, "token 0 has length 5 (max_token_length 2)"], struct.pack("<i", 2) + tok[4:])
    neg = bytearray(tok)
    struct.pack_into("<i", neg, at + 4, -7)
    l2c("token-negative-length", [tb, "token 100 has length -7"], bytes(neg))
    huge = bytearray(tok)
    struct.pack_into("<i", huge, 0, 60000)
    struct.pack_into("<i", huge, at + 4, 50000)
    l2c("token-length-past-eof", [tb, "truncated at the text of token 100"], bytes(huge))

    def hf(name, expect, tokenizer_model):
        folder = cx.case(g, name, [ppl("{case}/model"), quantize("{case}/model")], expect)
        if folder is None:
            return
        write_hf(os.path.join(folder, "model"))
        p = os.path.join(folder, "model", "tokenizer.model")
        if isinstance(tokenizer_model, bytes):
            write(p, tokenizer_model)
        else:
            os.makedirs(p)

    tm = "{case}/model/tokenizer.model"
    hf("sentencepiece-garbage", [tm, "cannot load SentencePiece model"],
       bytes(random.Random(5).randrange(256) for _ in range(4096)))
    hf("sentencepiece-empty", [tm, "cannot load SentencePiece model"], b"")
    hf("sentencepiece-truncated-protobuf", [tm, "cannot load SentencePiece model"], b"\x0a\x40\x0a\x05<unk>")
    hf("sentencepiece-is-folder", [tm, "cannot load SentencePiece model"], None)


def quantized_cases(cx):
    g = "quantized"
    model = "{case}/model"
    st = "{case}/model/model.safetensors"
    q0 = "model.layers.0.self_attn.q_proj"
    runs = [info(model), ppl(model)]
    tensors, meta, linears = quip_tensors_and_meta()

    def case(name, expect, tensors=tensors, meta=meta, config=None, only_runs=None):
        folder = cx.case(g, name, only_runs or runs, expect)
        if folder is None:
            return
        m = os.path.join(folder, "model")
        write_quip(m, tensors=tensors, meta=meta, config=config)
        tok, _ = tokenizer_bin()
        write(os.path.join(m, "tok300.bin"), tok)

    def linear_info(name=q0, **kv):
        lin = json.loads(json.dumps(linears))
        for k, v in kv.items():
            if v is None:
                lin[name].pop(k, None)
            else:
                lin[name][k] = v
        return dict(meta, **{"quip.linears": json.dumps(lin)})

    def replace(name, dtype=None, shape=None, raw=None, drop=False):
        out = []
        for n, d, s, b in tensors:
            if n == name:
                if drop:
                    continue
                out.append((n, dtype or d, shape if shape is not None else s, raw if raw is not None else b))
            else:
                out.append((n, d, s, b))
        return out

    case("valid-control", None)
    case("requantize", ["{case}/model", "already quantized"], only_runs=[quantize(model)])
    case("bits-five", [st, q0, "bit width 5 is not supported"], meta=linear_info(bits=5))
    case("bits-one", [st, q0, "bit width 1 is not supported"], meta=linear_info(bits=1))
    case("bits-wraps-int32", [st, q0, "bit width 4294967298 is not supported"], meta=linear_info(bits=2 ** 32 + 2))
    case("bits-string", [st, q0, "missing integer 'bits'"], meta=linear_info(bits="2"))
    case("bits-missing", [st, q0, "missing integer 'bits'"], meta=linear_info(bits=None))
    case("bits-3-codes-packed-for-2", [st, q0 + ".codes", "bit width 3 in __metadata__", "metadata and the codes disagree"],
         meta=linear_info(bits=3))
    case("incoherence-unknown", [st, q0, "incoherence 'hadamard' is not supported"],
         meta=linear_info(incoherence="hadamard"))
    case("incoherence-not-string", [st, q0, "'incoherence' must be a string"], meta=linear_info(incoherence=1))
    case("incoherence-missing", [st, q0, "incoherence '' is not supported"], meta=linear_info(incoherence=None))
    case("seed-missing", [st, q0, "seed_u"], meta=linear_info(seed_u=None))
    case("seed-negative", [st, q0, "seed_u"], meta=linear_info(seed_u=-1))
    case("seed-string", [st, q0, "seed_v"], meta=linear_info(seed_v="12"))
    case("seed-float", [st, q0, "seed_v"], meta=linear_info(seed_v=1.5))
    case("format-version-2", [st, "unsupported quip format version '2'"], meta=dict(meta, **{"quip.format_version": "2"}))
    case("linears-not-json", [st, "'quip.linears' is not valid JSON"], meta=dict(meta, **{"quip.linears": "{oops"}))
    case("linears-not-object", [st, "has no entry for"], meta=dict(meta, **{"quip.linears": "[1,2]"}))
    case("linears-entry-not-object", [st, "has no entry for '%s'" % q0],
         meta=dict(meta, **{"quip.linears": json.dumps(dict(linears, **{q0: 2}))}))
    case("linears-deeply-nested", [st, "nested"], meta=dict(meta, **{"quip.linears": "[" * 100000 + "]" * 100000}))
    case("linears-missing", [st, "lacks 'quip.linears'"],
         meta={k: v for k, v in meta.items() if k != "quip.linears"})
    lin = dict(linears)
    del lin[q0]
    case("linears-lacks-layer", [st, "has no entry for '%s'" % q0], meta=dict(meta, **{"quip.linears": json.dumps(lin)}))
    rows, row_bytes = 16, packed_bytes(16, 2)
    case("codes-too-short", [st, q0 + ".codes", "config.json implies"],
         tensors=replace(q0 + ".codes", shape=[rows - 1, row_bytes], raw=b"\0" * ((rows - 1) * row_bytes)))
    case("codes-flat", [st, q0 + ".codes", "config.json implies"],
         tensors=replace(q0 + ".codes", shape=[rows * row_bytes]))
    case("codes-wrong-dtype", [st, q0 + ".codes", "has dtype I8, expected U8"], tensors=replace(q0 + ".codes", dtype="I8"))
    case("codes-missing", [st, "missing tensor '%s.codes'" % q0], tensors=replace(q0 + ".codes", drop=True))
    case("scale-missing", [st, "missing tensor '%s.scale'" % q0], tensors=replace(q0 + ".scale", drop=True))
    case("scale-nan", [st, q0 + ".scale", "non-finite"], tensors=replace(q0 + ".scale", raw=f32_bytes([float("nan")])))
    case("scale-inf", [st, q0 + ".scale", "non-finite"], tensors=replace(q0 + ".scale", raw=f32_bytes([float("inf")])))
    case("scale-wrong-shape", [st, q0 + ".scale", "config.json implies"],
         tensors=replace(q0 + ".scale", shape=[2], raw=f32_bytes([0.1, 0.1])))
    case("scale-wrong-dtype", [st, q0 + ".scale", "expected a float type"],
         tensors=replace(q0 + ".scale", dtype="I32"))
    case("zero-nan", [st, q0 + ".zero", "non-finite"], tensors=replace(q0 + ".zero", raw=f32_bytes([float("nan")])))
    case("rescale-zero", [st, q0, "rescale holds a non-positive or non-finite value 0"],
         tensors=replace(q0 + ".rescale", raw=f32_bytes([0.0] * 16)))
    case("rescale-negative", [st, q0, "rescale holds a non-positive or non-finite value -1"],
         tensors=replace(q0 + ".rescale", raw=f32_bytes([1.0] * 15 + [-1.0])))
    case("rescale-inf", [st, q0, "NaN or Inf"], tensors=replace(q0 + ".rescale", raw=f32_bytes([float("inf")] * 16)))
    case("rescale-wrong-shape", [st, q0 + ".rescale", "config.json implies"],
         tensors=replace(q0 + ".rescale", shape=[8], raw=f32_bytes([1.0] * 8)))
    case("config-disagrees", [st, "config.json implies"], config=dict(hf_config(intermediate_size=48)))


GROUPS = {"safetensors": safetensors_cases, "index": index_cases, "config": config_cases, "llama2c": llama2c_cases,
          "tokenizer": tokenizer_cases, "quantized": quantized_cases}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir", nargs="?")
    ap.add_argument("--only", default="", help="comma-separated groups (default: all)")
    ap.add_argument("--list-groups", action="store_true")
    args = ap.parse_args()
    if args.list_groups:
        print("\n".join(GROUPS))
        return 0
    if not args.out_dir:
        ap.error("OUT_DIR is required")
    only = set(filter(None, args.only.split(",")))
    unknown = only - set(GROUPS)
    if unknown:
        ap.error("unknown group(s): %s" % ", ".join(sorted(unknown)))
    os.makedirs(args.out_dir, exist_ok=True)
    write(os.path.join(args.out_dir, "text.txt"), TEXT.encode())
    cx = Corpus(os.path.abspath(args.out_dir), only)
    for name, fn in GROUPS.items():
        fn(cx)
    with open(os.path.join(args.out_dir, "manifest.jsonl"), "w") as f:
        for c in cx.cases:
            f.write(json.dumps(c) + "\n")
    bad = sum(1 for c in cx.cases if c["expect"] is not None)
    print("%d cases (%d malformed, %d valid controls) in %s" % (len(cx.cases), bad, len(cx.cases) - bad,
                                                                   args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
