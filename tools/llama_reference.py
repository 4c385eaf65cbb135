#!/usr/bin/python3
"""Independent float64 NumPy reference of the Llama forward pass (no torch).

It shares no code with quip: it parses safetensors itself (struct + json; F32, F16,
BF16; single file or sharded model.safetensors.index.json), reads config.json, and
reads llama2.c "version 0" .bin checkpoints with llama2.c's own RoPE convention
(rotating interleaved pairs (2i, 2i+1) of each head, no weight permutation), so a
test comparing quip's logits against it also checks quip's load-time permutation.
Mistral configs with a sliding_window mask keys more than window - 1 positions back.

Usage:
  llama_reference.py --model DIR_OR_BIN --tokens 1,5,42 --out logits.f64
  llama_reference.py --model DIR_OR_BIN --tokens 1,5,42 --out logits.npy
  llama_reference.py --model DIR_OR_BIN --tokens 1 --greedy 20     # prints generated ids
  llama_reference.py --model DIR_OR_BIN --tokens 1,5,42 --linear-inputs x.f64

--out writes the logits of every position, shape [len(tokens), vocab], as
little-endian float64: raw (row-major, no header) unless the name ends in .npy.
--linear-inputs writes what each linear layer reads, as little-endian float64, layer by
layer and in block order: the attention norm's output (q/k/v) [T, dim], the attention
output (o_proj) [T, heads*head_dim], the FFN norm's output (gate/up) [T, dim] and
silu(gate)*up (down_proj) [T, hidden] (calibration's Hessians are built from these).
A one-line JSON summary {"tokens": T, "vocab": V, "format": ...} goes to stdout.
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

DTYPES = {"F32": (np.dtype("<f4"), 4), "F16": (np.dtype("<f2"), 2), "BF16": (np.dtype("<u2"), 2),
          "F64": (np.dtype("<f8"), 8)}


def read_safetensors(path):
    """name -> float64 array, from one safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = memoryview(blob)[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, size = DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        assert end - begin == count * size, (path, name, "size mismatch")
        raw = np.frombuffer(data[begin:end], dtype=dtype)
        if info["dtype"] == "BF16":
            raw = (raw.astype(np.uint32) << 16).view(np.float32)
        out[name] = raw.astype(np.float64).reshape(shape)
    return out


def load_hf(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    single = os.path.join(folder, "model.safetensors")
    if os.path.exists(single):
        t = read_safetensors(single)
    else:
        with open(os.path.join(folder, "model.safetensors.index.json")) as f:
            index = json.load(f)
        t = {}
        for shard in sorted(set(index["weight_map"].values())):
            t.update(read_safetensors(os.path.join(folder, shard)))
    n_heads = cfg["num_attention_heads"]
    dim = cfg["hidden_size"]
    m = {
        "n_layers": cfg["num_hidden_layers"],
        "n_heads": n_heads,
        "n_kv_heads": cfg.get("num_key_value_heads") or n_heads,
        "head_dim": cfg.get("head_dim") or dim // n_heads,
        "eps": cfg.get("rms_norm_eps", 1e-6),
        "theta": cfg.get("rope_theta", 10000.0),
        "rope": "rotate_half",
        # Mistral: position i attends to j only when i - window < j <= i (HF's sliding-window mask).
        # Absent: MistralConfig's default 4096; null: full attention.
        "window": cfg.get("sliding_window", 4096) if cfg.get("model_type") == "mistral" else None,
        "embed": t["model.embed_tokens.weight"],
        "norm": t["model.norm.weight"],
        "head": t["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else t["lm_head.weight"],
        "layers": [],
    }
    for l in range(m["n_layers"]):
        p = "model.layers.%d." % l
        m["layers"].append({
            "attn_norm": t[p + "input_layernorm.weight"], "ffn_norm": t[p + "post_attention_layernorm.weight"],
            "q": t[p + "self_attn.q_proj.weight"], "k": t[p + "self_attn.k_proj.weight"],
            "v": t[p + "self_attn.v_proj.weight"], "o": t[p + "self_attn.o_proj.weight"],
            "gate": t[p + "mlp.gate_proj.weight"], "up": t[p + "mlp.up_proj.weight"],
            "down": t[p + "mlp.down_proj.weight"],
        })
    return m


def load_llama2c(path):
    with open(path, "rb") as f:
        blob = f.read()
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq = struct.unpack("<7i", blob[:28])
    shared = vocab > 0
    vocab = abs(vocab)
    head_dim = dim // n_heads
    w = np.frombuffer(blob, dtype="<f4", offset=28).astype(np.float64)
    pos = [0]

    def take(*shape):
        n = int(np.prod(shape))
        a = w[pos[0]:pos[0] + n].reshape(shape)
        pos[0] += n
        return a

    embed = take(vocab, dim)
    rms_att = take(n_layers, dim)
    wq = take(n_layers, n_heads * head_dim, dim)
    wk = take(n_layers, n_kv * head_dim, dim)
    wv = take(n_layers, n_kv * head_dim, dim)
    wo = take(n_layers, dim, n_heads * head_dim)
    rms_ffn = take(n_layers, dim)
    w1 = take(n_layers, hidden, dim)
    w2 = take(n_layers, dim, hidden)
    w3 = take(n_layers, hidden, dim)
    rms_final = take(dim)
    take(seq, head_dim // 2)  # freq_cis_real (unused)
    take(seq, head_dim // 2)  # freq_cis_imag (unused)
    head = embed if shared else take(vocab, dim)
    if pos[0] != w.size:
        sys.exit("llama_reference: %s: %d floats left over after the weights" % (path, w.size - pos[0]))
    return {
        "n_layers": n_layers, "n_heads": n_heads, "n_kv_heads": n_kv, "head_dim": head_dim,
        "eps": 1e-5, "theta": 10000.0, "rope": "interleaved", "embed": embed, "norm": rms_final, "head": head,
        "layers": [{"attn_norm": rms_att[l], "ffn_norm": rms_ffn[l], "q": wq[l], "k": wk[l], "v": wv[l],
                    "o": wo[l], "gate": w1[l], "up": w3[l], "down": w2[l]} for l in range(n_layers)],
    }


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope(x, positions, theta, convention):
    """x: [T, heads, head_dim]. rotate_half pairs (i, i+half); interleaved pairs (2i, 2i+1)."""
    hd = x.shape[-1]
    half = hd // 2
    inv_freq = 1.0 / theta ** (np.arange(half, dtype=np.float64) * 2.0 / hd)
    ang = positions[:, None].astype(np.float64) * inv_freq[None, :]  # [T, half]
    cos = np.cos(ang)[:, None, :]
    sin = np.sin(ang)[:, None, :]
    if convention == "rotate_half":
        a, b = x[..., :half], x[..., half:]
        return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1)
    a, b = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = a * cos - b * sin
    out[..., 1::2] = a * sin + b * cos
    return out


def forward(m, tokens, linear_inputs=None):
    """Logits [T, vocab] of a causal pass over `tokens` from position 0; appends each
    linear layer's input to the list `linear_inputs` when given (see --linear-inputs)."""
    record = linear_inputs.append if linear_inputs is not None else (lambda a: None)
    T = len(tokens)
    H, KV, hd = m["n_heads"], m["n_kv_heads"], m["head_dim"]
    group = H // KV
    positions = np.arange(T)
    mask = np.triu(np.full((T, T), -np.inf), k=1)
    if m.get("window"):
        mask += np.tril(np.full((T, T), -np.inf), k=-m["window"])
    x = m["embed"][np.asarray(tokens)]
    for L in m["layers"]:
        n = rms_norm(x, L["attn_norm"], m["eps"])
        record(n)
        q = rope((n @ L["q"].T).reshape(T, H, hd), positions, m["theta"], m["rope"])
        k = rope((n @ L["k"].T).reshape(T, KV, hd), positions, m["theta"], m["rope"])
        v = (n @ L["v"].T).reshape(T, KV, hd)
        att = np.empty((T, H, hd))
        for h in range(H):
            s = q[:, h, :] @ k[:, h // group, :].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            att[:, h, :] = s @ v[:, h // group, :]
        record(att.reshape(T, H * hd))
        x = x + att.reshape(T, H * hd) @ L["o"].T
        n = rms_norm(x, L["ffn_norm"], m["eps"])
        record(n)
        g = n @ L["gate"].T
        hidden = (g / (1.0 + np.exp(-g))) * (n @ L["up"].T)
        record(hidden)
        x = x + hidden @ L["down"].T
    return rms_norm(x, m["norm"], m["eps"]) @ m["head"].T


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face folder (config.json) or llama2.c .bin")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids, e.g. 1,42,7")
    ap.add_argument("--out", help="logits file: raw little-endian float64 [T, vocab], or .npy")
    ap.add_argument("--greedy", type=int, default=0, help="also greedily generate N tokens and print their ids")
    ap.add_argument("--linear-inputs", help="file for every linear layer's input, raw little-endian float64")
    args = ap.parse_args()

    if os.path.isdir(args.model):
        m, fmt = load_hf(args.model), "hf"
    else:
        m, fmt = load_llama2c(args.model), "llama2c"
    tokens = [int(t) for t in args.tokens.split(",") if t.strip()]
    inputs = [] if args.linear_inputs else None
    logits = forward(m, tokens, inputs)
    if args.linear_inputs:
        np.concatenate([a.ravel() for a in inputs]).astype("<f8").tofile(args.linear_inputs)
    if args.out:
        if args.out.endswith(".npy"):
            np.save(args.out, logits.astype("<f8"))
        else:
            logits.astype("<f8").tofile(args.out)
    generated = []
    if args.greedy > 0:
        seq = list(tokens)
        nxt = int(np.argmax(logits[-1]))
        for _ in range(args.greedy):
            generated.append(nxt)
            seq.append(nxt)
            nxt = int(np.argmax(forward(m, seq)[-1]))
    summary = {"tokens": len(tokens), "vocab": int(logits.shape[1]), "format": fmt}
    if args.greedy > 0:
        summary["generated"] = generated
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
