#!/usr/bin/env python3
"""Independent NumPy reference for quip's quantizer (src/quant), used by
tests/quant/reference_test.cc to cross-check the C++ code bit for bit on codes.

It implements, from the QuIP paper (Chee et al. 2023, Algorithms 1 and 3) and
OPTQ's baseline grid, without the incoherence rotations:
  * dead inputs (diag H == 0): H_ii = 1, W[:, i] = 0           (as OPTQ)
  * damping: H += alpha * mean(diag H) * I
  * optional diagonal rescaling D = (diag H / diag W^T W)^(1/4) (floors as quip)
  * OPTQ's per-row min/max grid with an integer zero point
  * LDLQ with nearest rounding: H = (U + I) D (U + I)^T from one Cholesky of the
    flipped matrix, column k <- clamp(round(W_k + (W - W_hat)[:, :k] U[:k, k]))

Usage: quant_reference.py DIR
  DIR/config.json  {"rows", "cols", "bits", "rescale", "damping"}
  DIR/w.f64        rows x cols, row-major little-endian float64
  DIR/h.f64        cols x cols
Writes DIR/codes.u8 (rows x cols), DIR/row_scale.f32, DIR/row_zero.f32,
DIR/rescale.f32 (cols, or empty).
"""
import json
import os
import sys

import numpy as np


def rescale_factors(w, diag_h):
    col_norm2 = np.sum(w * w, axis=0)
    h_floor = 1e-8 * diag_h.mean()
    w_floor = 1e-8 * col_norm2.mean()
    ratio = np.maximum(diag_h, h_floor) / np.maximum(col_norm2, w_floor)
    d = np.sqrt(np.sqrt(ratio)).astype(np.float32).astype(np.float64)
    d[col_norm2 == 0.0] = 1.0
    return d


def minmax_grid(w, maxq):
    lo = np.minimum(w.min(axis=1), 0.0)
    hi = np.maximum(w.max(axis=1), 0.0)
    same = lo == hi
    lo[same], hi[same] = -1.0, 1.0
    scale = ((hi - lo) / maxq).astype(np.float32).astype(np.float64)
    zero = np.round(-lo / scale)  # half to even, like nearbyint
    return scale, zero


def ldl_upper(h):
    """H = (U + I) diag(d) (U + I)^T with U strictly upper triangular."""
    lower = np.linalg.cholesky(h[::-1, ::-1])
    c = lower[::-1, ::-1]  # upper triangular, H = C C^T
    diag = np.diag(c)
    u = c / diag[None, :] - np.eye(h.shape[0])
    return u, diag ** 2


def ldlq_nearest(x, u, maxq):
    m, n = x.shape
    q = np.zeros_like(x)
    for k in range(n):
        v = x[:, k] + (x[:, :k] - q[:, :k]) @ u[:k, k]
        q[:, k] = np.clip(np.round(v), 0, maxq)
    return q


def main():
    folder = sys.argv[1]
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    m, n, bits = cfg["rows"], cfg["cols"], cfg["bits"]
    maxq = 2 ** bits - 1
    w = np.fromfile(os.path.join(folder, "w.f64"), dtype="<f8").reshape(m, n)
    h = np.fromfile(os.path.join(folder, "h.f64"), dtype="<f8").reshape(n, n)
    h = 0.5 * (h + h.T)

    dead = np.diag(h) == 0.0
    h[dead, dead] = 1.0
    w[:, dead] = 0.0
    h = h + cfg["damping"] * np.mean(np.diag(h)) * np.eye(n)

    d = rescale_factors(w, np.diag(h)) if cfg["rescale"] else np.ones(n)
    wp = w * d[None, :]
    hp = h / d[:, None] / d[None, :]

    scale, zero = minmax_grid(wp, maxq)
    x = wp / scale[:, None] + zero[:, None]
    if cfg.get("clip", False):  # Algorithm 1 step 6 as written (quip's --clip)
        x = np.clip(x, 0, maxq)
    u, _ = ldl_upper(hp)
    codes = ldlq_nearest(x, u, maxq)

    codes.astype(np.uint8).tofile(os.path.join(folder, "codes.u8"))
    scale.astype("<f4").tofile(os.path.join(folder, "row_scale.f32"))
    zero.astype("<f4").tofile(os.path.join(folder, "row_zero.f32"))
    (d if cfg["rescale"] else np.zeros(0)).astype("<f4").tofile(os.path.join(folder, "rescale.f32"))


if __name__ == "__main__":
    main()
