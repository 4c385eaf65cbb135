#!/usr/bin/env python3
"""Independent NumPy reference for quip's E8P codebook and block LDLQ (src/format/e8p.h,
src/format/vector_codebook.h, src/quant/block_ldlq.h), used by tests/format/e8p_reference_test.cc.

Written from the definitions in docs/e8p.md and QuIP#'s published table, not from the C++ code:
  * the 256 absolute-value patterns: 2a in {1,3,5}^8 with sum((2a)^2) <= 40 in
    lexicographic order (227), then QuIP#'s 29 norm-12 rows, values copied from quip-sharp
    commit 79b752f, lib/codebook/latticee8_padded12.py, get_norm12();
  * the 16-bit index: table entry in bits 15..8, signs of coordinates 0..6 in bits 7..1,
    coordinate 7's sign making the sum even, bit 0 = +1/4 shift (else -1/4);
  * QuIP#'s own index layout at that commit (get_full_grid, as read there): table entry in
    bits 15..8; bit s(i) (s = 0,4,1,5,2,6,3,7) negates coordinate i, after bit 0 is
    XORed with the parity of bits 7..0; that parity also picks the shift (odd: -1/4, even:
    +1/4); coordinate 7's pattern value is negated when sum(a) is odd;
  * nearest point by brute force over all 65536 points;
  * block LDL (g = 8) from one Cholesky of the flipped H, and block LDLQ column group by
    column group with brute-force nearest E8P rounding at scale s, no blocking.

Usage: e8p_reference.py DIR
  DIR/config.json  {"nx", "rows", "cols", "scale"}
  DIR/x.f64        nx x 8 points to round (row-major little-endian float64)
  DIR/w.f64        rows x cols, DIR/h.f64 cols x cols
Writes DIR/grid.f64 (65536 x 8, in index order), DIR/quipsharp_grid.f64 (65536 x 8, in
QuIP#'s index order), DIR/nearest.u16 (nx), DIR/u.f64
(cols x cols), DIR/d.f64 (cols/8 blocks of 8 x 8), DIR/codes.u16 (rows x cols/8),
DIR/w_hat.f64 (rows x cols).
"""
import itertools
import json
import os
import sys

import numpy as np


# 2a for QuIP#'s 29 patterns with five 3/2 and three 1/2, in its order: quip-sharp commit
# 79b752f, lib/codebook/latticee8_padded12.py, get_norm12() (values copied).
QUIPSHARP_NORM12 = [
    [3, 1, 1, 1, 3, 3, 3, 3], [1, 3, 1, 1, 3, 3, 3, 3], [1, 1, 3, 1, 3, 3, 3, 3], [1, 1, 1, 3, 3, 3, 3, 3],
    [3, 3, 3, 1, 3, 3, 1, 1], [3, 3, 3, 1, 3, 1, 3, 1], [3, 3, 3, 1, 1, 3, 3, 1], [3, 3, 3, 1, 3, 1, 1, 3],
    [3, 3, 3, 1, 1, 3, 1, 3], [3, 3, 3, 1, 1, 1, 3, 3], [3, 3, 1, 3, 3, 3, 1, 1], [3, 3, 1, 3, 3, 1, 3, 1],
    [3, 3, 1, 3, 1, 3, 3, 1], [3, 3, 1, 3, 3, 1, 1, 3], [3, 3, 1, 3, 1, 3, 1, 3], [3, 3, 1, 3, 1, 1, 3, 3],
    [3, 1, 3, 3, 3, 3, 1, 1], [3, 1, 3, 3, 3, 1, 3, 1], [3, 1, 3, 3, 1, 3, 3, 1], [3, 1, 3, 3, 3, 1, 1, 3],
    [3, 1, 3, 3, 1, 3, 1, 3], [1, 3, 3, 3, 1, 1, 3, 3], [1, 3, 3, 3, 3, 3, 1, 1], [1, 3, 3, 3, 3, 1, 3, 1],
    [1, 3, 3, 3, 1, 3, 3, 1], [1, 3, 3, 3, 3, 1, 1, 3], [1, 3, 3, 3, 1, 3, 1, 3], [1, 1, 3, 3, 1, 3, 3, 3],
    [3, 3, 1, 1, 3, 3, 3, 1],
]


def abs_table():
    ball = [list(v) for v in itertools.product((1, 3, 5), repeat=8) if sum(c * c for c in v) <= 40]
    assert len(ball) == 227
    table = np.array(ball + QUIPSHARP_NORM12, dtype=np.int64)
    assert len(table) == 256 and len({tuple(r) for r in table}) == 256
    return table


def grid():
    table = abs_table()
    idx = np.arange(65536)
    a = table[idx >> 8] / 2.0                                   # 65536 x 8
    signs = (idx[:, None] >> (1 + np.arange(7))[None, :]) & 1   # coordinates 0..6
    total = table[idx >> 8].sum(axis=1) // 2                    # sum of a, an integer
    last = (signs.sum(axis=1) + total) & 1                      # coordinate 7 keeps the sum even
    signs = np.concatenate([signs, last[:, None]], axis=1)
    y = np.where(signs == 1, -a, a)
    assert np.all(np.round(y.sum(axis=1)).astype(np.int64) % 2 == 0)
    return y + np.where(idx & 1, 0.25, -0.25)[:, None]


def quipsharp_grid():
    """The same table decoded with QuIP#'s index layout (module docstring)."""
    table = abs_table()
    idx = np.arange(65536)
    a = table[idx >> 8] / 2.0
    bits = (idx[:, None] >> np.arange(8)[None, :]) & 1          # bits 0..7
    parity = bits.sum(axis=1) & 1
    bits[:, 0] ^= parity
    neg = bits[:, [0, 4, 1, 5, 2, 6, 3, 7]]                      # coordinate i <- bit s(i)
    neg[:, 7] ^= (table[idx >> 8].sum(axis=1) // 2) & 1
    y = np.where(neg == 1, -a, a)
    assert np.all(np.round(y.sum(axis=1)).astype(np.int64) % 2 == 0)
    return y + np.where(parity == 1, -0.25, 0.25)[:, None]


def nearest(x, pts):
    # argmin ||x - c||^2 = argmin (||c||^2 - 2 x.c); exact distances for the final choice.
    d = (pts * pts).sum(axis=1)[None, :] - 2.0 * x @ pts.T
    return np.argmin(d, axis=1)


def block_ldl(h, g):
    n = h.shape[0]
    c = np.linalg.cholesky(h[::-1, ::-1])[::-1, ::-1]  # upper, H = C C^T
    u = np.zeros((n, n))
    d = []
    for j in range(0, n, g):
        cjj = c[j:j + g, j:j + g]
        u[:, j:j + g] = c[:, j:j + g] @ np.linalg.inv(cjj)
        u[j:, j:j + g] = 0.0
        d.append(cjj @ cjj.T)
    return u, np.array(d)


def block_ldlq(w, u, scale, pts):
    m, n = w.shape
    w_hat = np.zeros_like(w)
    codes = np.zeros((m, n // 8), dtype=np.uint16)
    for j in range(0, n, 8):
        target = w[:, j:j + 8] + (w[:, :j] - w_hat[:, :j]) @ u[:j, j:j + 8]
        idx = nearest(target / scale, pts)
        codes[:, j // 8] = idx
        w_hat[:, j:j + 8] = scale * pts[idx]
    return codes, w_hat


def main():
    d = sys.argv[1]
    cfg = json.load(open(os.path.join(d, "config.json")))
    rows, cols = cfg["rows"], cfg["cols"]
    pts = grid()
    pts.astype("<f8").tofile(os.path.join(d, "grid.f64"))
    quipsharp_grid().astype("<f8").tofile(os.path.join(d, "quipsharp_grid.f64"))
    x = np.fromfile(os.path.join(d, "x.f64"), dtype="<f8").reshape(cfg["nx"], 8)
    nearest(x, pts).astype("<u2").tofile(os.path.join(d, "nearest.u16"))
    w = np.fromfile(os.path.join(d, "w.f64"), dtype="<f8").reshape(rows, cols)
    h = np.fromfile(os.path.join(d, "h.f64"), dtype="<f8").reshape(cols, cols)
    u, dblocks = block_ldl(h, 8)
    u.astype("<f8").tofile(os.path.join(d, "u.f64"))
    dblocks.astype("<f8").tofile(os.path.join(d, "d.f64"))
    codes, w_hat = block_ldlq(w, u, cfg["scale"], pts)
    codes.astype("<u2").tofile(os.path.join(d, "codes.u16"))
    w_hat.astype("<f8").tofile(os.path.join(d, "w_hat.f64"))


if __name__ == "__main__":
    main()
