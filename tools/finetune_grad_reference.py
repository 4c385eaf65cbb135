#!/usr/bin/python3
"""The whole model's fine-tuning gradient by PyTorch autograd, against ours (issue 16).

  quip finetune --model Q --teacher FP --calib TEXT -o unused --ctx 32 --dump-gradient DUMP
  tools/finetune_grad_reference.py DUMP [--bound 1e-10]

DUMP (src/train/gradient_dump.h) holds one window's tokens, the teacher's log-probabilities,
our loss and gradient (float64, src/train's hand-written backward), the trainable tensors and
the frozen parts as dense matrices (decoded codebook bases, the rotations applied to the
identity, the embedding, the dense head; for QTIP's HYB code each weight's table entry and
sign, the table being a parameter). This script rebuilds the Llama forward pass from
those tensors in torch.float64 -- RMSNorm, RoPE (rotate_half, cos/sin rounded to float as our
table is), causal GQA attention, SwiGLU, the quantized linear y = o * (Ut (sum_k s_k B_k) V (m * x)),
the final norm and head, mean-over-tokens KL(teacher || model) -- and differentiates it with
torch.autograd. It prints the loss of both and, per parameter kind, the worst
|ours - torch| / max|torch| over the tensors; exits 1 if any exceeds --bound.

Needs Debian's python3-torch (not part of scripts/setup.sh or the test suite).
"""
import json
import math
import struct
import sys

import numpy as np
import torch

DTYPES = {"F64": np.float64, "F32": np.float32, "I32": np.int32}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=DTYPES[t["dtype"]]).reshape(t["shape"]).copy())
    return tensors, meta


def main(argv):
    path = argv[0]
    bound = float(argv[argv.index("--bound") + 1]) if "--bound" in argv else 1e-10
    t, meta = read_safetensors(path)
    cfg = {k: float(v) for k, v in meta.items() if not k.endswith(".per_row_scale")}
    dim, n_layers, n_heads = int(cfg["dim"]), int(cfg["n_layers"]), int(cfg["n_heads"])
    n_kv, hd, eps, theta = int(cfg["n_kv_heads"]), int(cfg["head_dim"]), cfg["norm_eps"], cfg["rope_theta"]
    tokens = t["tokens"].long()
    ntok = len(tokens)
    params = {k[len("param/"):]: v.clone().requires_grad_(True) for k, v in t.items() if k.startswith("param/")}

    def linear(name, x):
        if name + ".weight" in t:
            return x @ t[name + ".weight"].T
        m, s, o = params[name + ".input_multiplier"], params[name + ".scale"], params[name + ".output_scale"]
        basis = t[name + ".basis"]
        if name + ".hyb_entry" in t:  # QTIP's HYB code: B = sign * table[entry], the table tuned too
            entry = t[name + ".hyb_entry"].long()
            basis = (t[name + ".hyb_sign"] * params["quip.hyb_table"][entry])[None]
        a = x * m
        if name + ".v_rows" in t:
            a = a @ t[name + ".v_rows"]
        if meta[name + ".per_row_scale"] == "1":
            z = (a @ basis[0].T) * s
        else:
            z = sum(s[k] * (a @ basis[k].T) for k in range(basis.shape[0]))
        if name + ".ut_rows" in t:
            z = z @ t[name + ".ut_rows"]
        return z * o

    def rms_norm(x, gain):
        return gain * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))

    # RoPE angles in double, cos/sin rounded to float32 (our table's values).
    pos = torch.arange(ntok, dtype=torch.float64)[:, None]
    inv_freq = 1.0 / theta ** (2.0 * torch.arange(hd // 2, dtype=torch.float64) / hd)
    cos = torch.cos(pos * inv_freq).float().double()
    sin = torch.sin(pos * inv_freq).float().double()
    cos, sin = torch.cat([cos, cos], -1), torch.cat([sin, sin], -1)

    def rope(x):  # [heads, ntok, hd]
        x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    scale = float(np.float32(1.0 / math.sqrt(hd)))  # our 1/sqrt(d) is computed in float
    mask = torch.triu(torch.ones(ntok, ntok, dtype=torch.bool), 1)
    x = t["embedding"][tokens]
    for l in range(n_layers):
        p = f"model.layers.{l}."
        h = rms_norm(x, params[p + "input_layernorm.weight"])
        q = linear(p + "self_attn.q_proj", h).view(ntok, n_heads, hd).transpose(0, 1)
        k = linear(p + "self_attn.k_proj", h).view(ntok, n_kv, hd).transpose(0, 1)
        v = linear(p + "self_attn.v_proj", h).view(ntok, n_kv, hd).transpose(0, 1)
        q, k = rope(q), rope(k)
        group = n_heads // n_kv
        k, v = k.repeat_interleave(group, 0), v.repeat_interleave(group, 0)
        scores = (q @ k.transpose(1, 2)) * scale
        attn = torch.softmax(scores.masked_fill(mask, float("-inf")), -1) @ v
        x = x + linear(p + "self_attn.o_proj", attn.transpose(0, 1).reshape(ntok, n_heads * hd))
        h = rms_norm(x, params[p + "post_attention_layernorm.weight"])
        gate, up = linear(p + "mlp.gate_proj", h), linear(p + "mlp.up_proj", h)
        x = x + linear(p + "mlp.down_proj", torch.nn.functional.silu(gate) * up)
    logits = linear("lm_head", rms_norm(x, params["model.norm.weight"]))
    teacher = t["teacher_log_probs"]
    log_q = torch.log_softmax(logits, -1)
    loss = (teacher.exp() * (teacher - log_q)).sum() / ntok
    loss.backward()

    ours_loss = float(t["loss"][0])
    print(f"loss: ours {ours_loss:.15g}, torch {loss.item():.15g}, relative difference "
          f"{abs(ours_loss - loss.item()) / abs(loss.item()):.2e}")
    worst_by_kind = {}
    for name, p in params.items():
        ref, ours = p.grad, t["grad/" + name]
        err = float((ours - ref).abs().max() / ref.abs().max())
        kind = name.rsplit(".", 1)[-1]
        if err >= worst_by_kind.get(kind, (-1, ""))[0]:
            worst_by_kind[kind] = (err, name)
    worst = 0.0
    for kind, (err, name) in sorted(worst_by_kind.items()):
        print(f"{kind:>18}: worst relative error {err:.2e} ({name})")
        worst = max(worst, err)
    print(f"{len(params)} tensors, {sum(p.numel() for p in params.values())} values: "
          f"worst relative error {worst:.2e} (bound {bound:g})")
    return 0 if worst <= bound else 1


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
