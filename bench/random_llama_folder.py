#!/usr/bin/python3
"""Writes a Llama model folder with random fp32 weights (std 0.02, norms 1) and books-llama-5m's
tokenizer, for measuring `quip quantize` (and `mpirun -np N quip quantize`) on shapes larger
than the shipped models: the moments of a 2816-wide down_proj input are 63 MB per sum.

    bench/random_llama_folder.py OUT [--dim 1024] [--hidden 2816] [--layers 2] [--heads 16] [--kv-heads 16]

Only numpy; the safetensors file is written by hand (8-byte header length, JSON header, data).
"""
import argparse
import json
import os
import shutil
import struct

import numpy as np

TOKENIZER_FILES = ["tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--dim", type=int, default=1024)
    p.add_argument("--hidden", type=int, default=2816)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--kv-heads", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "books-llama-5m")
    with open(os.path.join(source, "config.json")) as f:
        config = json.load(f)
    head_dim = a.dim // a.heads
    config.update({"hidden_size": a.dim, "intermediate_size": a.hidden, "num_hidden_layers": a.layers,
                   "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads, "head_dim": head_dim})
    vocab = config["vocab_size"]
    rng = np.random.default_rng(a.seed)

    def weight(rows, cols):
        return (rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(0.02))

    tensors = {"model.embed_tokens.weight": weight(vocab, a.dim), "lm_head.weight": weight(vocab, a.dim),
               "model.norm.weight": np.ones(a.dim, np.float32)}
    kv = a.kv_heads * head_dim
    for l in range(a.layers):
        p_ = f"model.layers.{l}."
        tensors.update({
            p_ + "input_layernorm.weight": np.ones(a.dim, np.float32),
            p_ + "post_attention_layernorm.weight": np.ones(a.dim, np.float32),
            p_ + "self_attn.q_proj.weight": weight(a.dim, a.dim),
            p_ + "self_attn.k_proj.weight": weight(kv, a.dim),
            p_ + "self_attn.v_proj.weight": weight(kv, a.dim),
            p_ + "self_attn.o_proj.weight": weight(a.dim, a.dim),
            p_ + "mlp.gate_proj.weight": weight(a.hidden, a.dim),
            p_ + "mlp.up_proj.weight": weight(a.hidden, a.dim),
            p_ + "mlp.down_proj.weight": weight(a.dim, a.hidden),
        })

    os.makedirs(a.out, exist_ok=True)
    header, offset = {}, 0
    for name, t in tensors.items():
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for t in tensors.values():
            f.write(np.ascontiguousarray(t).tobytes())
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for name in TOKENIZER_FILES:
        shutil.copy(os.path.join(source, name), a.out)


if __name__ == "__main__":
    main()
