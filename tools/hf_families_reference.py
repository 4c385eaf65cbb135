#!/usr/bin/python3
"""Independent float64 NumPy reference of the Hugging Face families quip runs (no torch).

Each family is written from its transformers modelling file, not from quip's C++:
  llama    LlamaForCausalLM      modeling_llama.py (rope_scaling default / linear / llama3,
                                 attention_bias, tied embeddings)
  mistral  MistralForCausalLM    modeling_mistral.py (sliding window on every layer)
  qwen2    Qwen2ForCausalLM      modeling_qwen2.py (q/k/v biases, o_proj without)
  qwen3    Qwen3ForCausalLM      modeling_qwen3.py (q_norm / k_norm over each head before RoPE)
  phi3     Phi3ForCausalLM       modeling_phi3.py (fused qkv_proj and gate_up_proj, sliding window)
  gemma2   Gemma2ForCausalLM     modeling_gemma2.py (GemmaRMSNorm 1 + w, sqrt(hidden) embedding
                                 scale, sandwich norms, GeGLU tanh, soft-capping, alternating
                                 sliding window, query_pre_attn_scalar)
  gemma3_text Gemma3ForCausalLM  modeling_gemma3.py (as Gemma 2 without soft-capping by default,
                                 q/k norms, local RoPE base on sliding layers, pattern of 6)
Tensors come from llama_reference.read_safetensors (its own safetensors parser).

Usage (as llama_reference.py):
  hf_families_reference.py --model DIR --tokens 2,5,42 --out logits.f64 [--greedy N]
--out: logits of every position [T, vocab] as raw little-endian float64. A one-line JSON
summary {"tokens": T, "vocab": V, "model_type": ..., "generated": [...]} goes to stdout.
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_reference import read_safetensors  # noqa: E402


def load(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    single = os.path.join(folder, "model.safetensors")
    if os.path.exists(single):
        return cfg, read_safetensors(single)
    with open(os.path.join(folder, "model.safetensors.index.json")) as f:
        index = json.load(f)
    t = {}
    for shard in sorted(set(index["weight_map"].values())):
        t.update(read_safetensors(os.path.join(folder, shard)))
    return cfg, t


# ---- shared building blocks (each family's file defines its own copy in transformers)

def rms_norm(x, weight, eps, plus_one=False):
    """LlamaRMSNorm: x / sqrt(mean(x^2) + eps) * w; GemmaRMSNorm multiplies by (1 + w)."""
    y = x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)
    return y * (1.0 + weight) if plus_one else y * weight


def inv_freq_for(head_dim, base, rope_scaling):
    """modeling_rope_utils: _compute_default_rope_parameters, _compute_linear_scaling_rope_parameters,
    _compute_llama3_parameters."""
    inv_freq = 1.0 / (base ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim))
    if not rope_scaling:
        return inv_freq
    kind = rope_scaling.get("rope_type", rope_scaling.get("type"))
    if kind == "default":
        return inv_freq
    if kind == "linear":
        return inv_freq / rope_scaling["factor"]
    if kind == "llama3":
        factor = rope_scaling["factor"]
        low_freq_factor = rope_scaling["low_freq_factor"]
        high_freq_factor = rope_scaling["high_freq_factor"]
        old_context_len = rope_scaling["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed_inv_freq = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium_freq = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        return np.where(is_medium_freq, smoothed_inv_freq, inv_freq_llama)
    sys.exit("hf_families_reference: rope_scaling %r is not implemented here" % (rope_scaling,))


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def apply_rotary_pos_emb(x, inv_freq):
    """x: [T, heads, head_dim]; emb = cat(freqs, freqs); x * cos + rotate_half(x) * sin."""
    T = x.shape[0]
    freqs = np.arange(T, dtype=np.float64)[:, None] * inv_freq[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)[:, None, :]
    return x * np.cos(emb) + rotate_half(x) * np.sin(emb)


def eager_attention(q, k, v, scaling, sliding_window=None, softcap=None):
    """q [T, H, d], k/v [T, KV, d] (repeat_kv for GQA); causal mask, and with a window position i
    sees j only when i - window < j (masking_utils.sliding_window_overlay); Gemma 2 soft-caps the
    scaled scores before the mask. Returns [T, H * d]."""
    T, H, d = q.shape
    group = H // k.shape[1]
    i = np.arange(T)[:, None]
    j = np.arange(T)[None, :]
    allowed = j <= i
    if sliding_window:
        allowed &= j > i - sliding_window
    out = np.empty((T, H, d))
    for h in range(H):
        s = (q[:, h, :] @ k[:, h // group, :].T) * scaling
        if softcap:
            s = np.tanh(s / softcap) * softcap
        s = np.where(allowed, s, -np.inf)
        s = np.exp(s - s.max(axis=-1, keepdims=True))
        s /= s.sum(axis=-1, keepdims=True)
        out[:, h, :] = s @ v[:, h // group, :]
    return out.reshape(T, H * d)


def linear(t, name, x):
    """nn.Linear: x W^T (+ b when the checkpoint has name.bias)."""
    y = x @ t[name + ".weight"].T
    return y + t[name + ".bias"] if name + ".bias" in t else y


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu_pytorch_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def dims(cfg, default_head_dim=None):
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or H
    hd = cfg.get("head_dim") or default_head_dim or cfg["hidden_size"] // H
    return H, KV, hd


def causal_lm(cfg, t, tokens, layer, embed_scale=None, plus_one=False, final_softcap=None):
    """The *Model + *ForCausalLM wrapper: embed, layers, final norm, lm_head (tied or not)."""
    embed = t["model.embed_tokens.weight"]
    x = embed[np.asarray(tokens)]
    if embed_scale is not None:
        x = x * embed_scale
    for l in range(cfg["num_hidden_layers"]):
        x = layer(x, "model.layers.%d." % l, l)
    x = rms_norm(x, t["model.norm.weight"], cfg.get("rms_norm_eps", 1e-6), plus_one)
    tied = cfg.get("tie_word_embeddings", plus_one)  # Gemma configs default to tied
    logits = x @ (embed if tied else t["lm_head.weight"]).T
    if final_softcap:
        logits = np.tanh(logits / final_softcap) * final_softcap
    return logits


# ---- the families

def llama_like(cfg, t, tokens, window=None):
    """modeling_llama / modeling_mistral: pre-norm block, SwiGLU."""
    H, KV, hd = dims(cfg)
    eps = cfg.get("rms_norm_eps", 1e-6)
    inv_freq = inv_freq_for(hd, cfg.get("rope_theta", 10000.0), cfg.get("rope_scaling"))
    T = len(tokens)

    def layer(x, p, l):
        h = rms_norm(x, t[p + "input_layernorm.weight"], eps)
        q = apply_rotary_pos_emb(linear(t, p + "self_attn.q_proj", h).reshape(T, H, hd), inv_freq)
        k = apply_rotary_pos_emb(linear(t, p + "self_attn.k_proj", h).reshape(T, KV, hd), inv_freq)
        v = linear(t, p + "self_attn.v_proj", h).reshape(T, KV, hd)
        x = x + linear(t, p + "self_attn.o_proj", eager_attention(q, k, v, hd ** -0.5, window))
        h = rms_norm(x, t[p + "post_attention_layernorm.weight"], eps)
        return x + linear(t, p + "mlp.down_proj", silu(linear(t, p + "mlp.gate_proj", h)) * linear(t, p + "mlp.up_proj", h))

    return causal_lm(cfg, t, tokens, layer)


def llama(cfg, t, tokens):
    return llama_like(cfg, t, tokens)


def mistral(cfg, t, tokens):
    return llama_like(cfg, t, tokens, cfg.get("sliding_window", 4096))


def qwen2(cfg, t, tokens):
    # Qwen2Attention: q/k/v_proj bias=True, o_proj bias=False; the window only with use_sliding_window.
    assert not cfg.get("use_sliding_window", False)
    return llama_like(cfg, t, tokens)


def qwen3(cfg, t, tokens):
    """Qwen3Attention: q_norm / k_norm (RMSNorm over head_dim) on each head, before RoPE."""
    assert not cfg.get("use_sliding_window", False)
    H, KV, hd = dims(cfg, 128)
    eps = cfg.get("rms_norm_eps", 1e-6)
    inv_freq = inv_freq_for(hd, cfg.get("rope_theta", 10000.0), cfg.get("rope_scaling"))
    T = len(tokens)

    def layer(x, p, l):
        h = rms_norm(x, t[p + "input_layernorm.weight"], eps)
        q = rms_norm(linear(t, p + "self_attn.q_proj", h).reshape(T, H, hd), t[p + "self_attn.q_norm.weight"], eps)
        k = rms_norm(linear(t, p + "self_attn.k_proj", h).reshape(T, KV, hd), t[p + "self_attn.k_norm.weight"], eps)
        v = linear(t, p + "self_attn.v_proj", h).reshape(T, KV, hd)
        q, k = apply_rotary_pos_emb(q, inv_freq), apply_rotary_pos_emb(k, inv_freq)
        x = x + linear(t, p + "self_attn.o_proj", eager_attention(q, k, v, hd ** -0.5))
        h = rms_norm(x, t[p + "post_attention_layernorm.weight"], eps)
        return x + linear(t, p + "mlp.down_proj", silu(linear(t, p + "mlp.gate_proj", h)) * linear(t, p + "mlp.up_proj", h))

    return causal_lm(cfg, t, tokens, layer)


def phi3(cfg, t, tokens):
    """Phi3Attention: qkv = qkv_proj(h), split at query_pos = H * hd and + KV * hd;
    Phi3MLP: gate, up = gate_up_proj(h).chunk(2, dim=-1); down(up * silu(gate))."""
    H, KV, hd = dims(cfg)
    eps = cfg.get("rms_norm_eps", 1e-5)
    inv_freq = inv_freq_for(hd, cfg.get("rope_theta", 10000.0), cfg.get("rope_scaling"))
    window = cfg.get("sliding_window")
    T = len(tokens)

    def layer(x, p, l):
        h = rms_norm(x, t[p + "input_layernorm.weight"], eps)
        qkv = linear(t, p + "self_attn.qkv_proj", h)
        query_pos = H * hd
        q = qkv[..., :query_pos].reshape(T, H, hd)
        k = qkv[..., query_pos:query_pos + KV * hd].reshape(T, KV, hd)
        v = qkv[..., query_pos + KV * hd:].reshape(T, KV, hd)
        q, k = apply_rotary_pos_emb(q, inv_freq), apply_rotary_pos_emb(k, inv_freq)
        x = x + linear(t, p + "self_attn.o_proj", eager_attention(q, k, v, hd ** -0.5, window))
        h = rms_norm(x, t[p + "post_attention_layernorm.weight"], eps)
        gate, up = np.split(linear(t, p + "mlp.gate_up_proj", h), 2, axis=-1)
        return x + linear(t, p + "mlp.down_proj", up * silu(gate))

    return causal_lm(cfg, t, tokens, layer)


def gemma(cfg, t, tokens, version):
    """Gemma2DecoderLayer / Gemma3DecoderLayer: x + post_norm(attn(input_norm(x))), then
    x + post_ffw_norm(mlp(pre_ffw_norm(x))); GemmaRMSNorm (1 + w); embeddings * sqrt(hidden)."""
    H, KV, hd = dims(cfg, 256)
    eps = cfg.get("rms_norm_eps", 1e-6)
    T = len(tokens)
    n_layers = cfg["num_hidden_layers"]
    if cfg.get("layer_types"):
        sliding = [kind == "sliding_attention" for kind in cfg["layer_types"]]
    elif version == 2:
        sliding = [bool((i + 1) % 2) for i in range(n_layers)]
    else:
        sliding = [bool((i + 1) % cfg.get("sliding_window_pattern", 6)) for i in range(n_layers)]
    window = cfg.get("sliding_window", 4096)
    scaling = cfg.get("query_pre_attn_scalar", 256) ** -0.5
    defaults = (50.0, 30.0) if version == 2 else (None, None)
    attn_cap = cfg.get("attn_logit_softcapping", defaults[0])
    final_cap = cfg.get("final_logit_softcapping", defaults[1])
    theta = cfg.get("rope_theta", 10000.0 if version == 2 else 1_000_000.0)
    global_freq = inv_freq_for(hd, theta, cfg.get("rope_scaling"))
    local_freq = inv_freq_for(hd, cfg.get("rope_local_base_freq", 10000.0), None) if version == 3 else global_freq

    def layer(x, p, l):
        h = rms_norm(x, t[p + "input_layernorm.weight"], eps, True)
        q = linear(t, p + "self_attn.q_proj", h).reshape(T, H, hd)
        k = linear(t, p + "self_attn.k_proj", h).reshape(T, KV, hd)
        v = linear(t, p + "self_attn.v_proj", h).reshape(T, KV, hd)
        if version == 3:
            q = rms_norm(q, t[p + "self_attn.q_norm.weight"], eps, True)
            k = rms_norm(k, t[p + "self_attn.k_norm.weight"], eps, True)
        freq = local_freq if sliding[l] else global_freq
        q, k = apply_rotary_pos_emb(q, freq), apply_rotary_pos_emb(k, freq)
        a = eager_attention(q, k, v, scaling, window if sliding[l] else None, attn_cap)
        x = x + rms_norm(linear(t, p + "self_attn.o_proj", a), t[p + "post_attention_layernorm.weight"], eps, True)
        h = rms_norm(x, t[p + "pre_feedforward_layernorm.weight"], eps, True)
        m = linear(t, p + "mlp.down_proj", gelu_pytorch_tanh(linear(t, p + "mlp.gate_proj", h)) * linear(t, p + "mlp.up_proj", h))
        return x + rms_norm(m, t[p + "post_feedforward_layernorm.weight"], eps, True)

    # hidden_size ** 0.5 cast to the activations' dtype, as the model runs in float32.
    return causal_lm(cfg, t, tokens, layer, float(np.float32(cfg["hidden_size"] ** 0.5)), True, final_cap)


FAMILIES = {
    "llama": llama, "mistral": mistral, "qwen2": qwen2, "qwen3": qwen3, "phi3": phi3,
    "gemma2": lambda cfg, t, tokens: gemma(cfg, t, tokens, 2),
    "gemma3_text": lambda cfg, t, tokens: gemma(cfg, t, tokens, 3),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="Hugging Face folder (config.json + safetensors)")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids")
    ap.add_argument("--out", help="logits file: raw little-endian float64 [T, vocab]")
    ap.add_argument("--greedy", type=int, default=0, help="also greedily generate N tokens and print their ids")
    args = ap.parse_args()
    cfg, t = load(args.model)
    forward = FAMILIES.get(cfg.get("model_type"))
    if forward is None:
        sys.exit("hf_families_reference: model_type %r is not one of %s" % (cfg.get("model_type"), sorted(FAMILIES)))
    tokens = [int(x) for x in args.tokens.split(",") if x.strip()]
    logits = forward(cfg, t, tokens)
    if args.out:
        logits.astype("<f8").tofile(args.out)
    summary = {"tokens": len(tokens), "vocab": int(logits.shape[1]), "model_type": cfg["model_type"]}
    if args.greedy > 0:
        seq, generated = list(tokens), []
        nxt = int(np.argmax(logits[-1]))
        for _ in range(args.greedy):
            generated.append(nxt)
            seq.append(nxt)
            nxt = int(np.argmax(forward(cfg, t, seq)[-1]))
        summary["generated"] = generated
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
