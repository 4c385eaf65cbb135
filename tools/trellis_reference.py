#!/usr/bin/env python3
"""Independent NumPy reference for QTIP's computed codes (src/format/trellis_codes.h), used by
tests/quant/trellis_test.cc. Written from the published definitions (the QTIP paper's 1MAD and
3INST algorithms and its reference implementation's HYB hash), with NumPy integer and float16
arithmetic instead of the C++ bit manipulation:
  * 1MAD:  x = (34038481 * s + 76625530) mod 2^32; value = (sum of x's 4 bytes - 510) / 147.800537109375
  * 3INST: x = (89226354 * s + 64248484) mod 2^32; r = (x & 0x8FFF8FFF) ^ 996162400; value = the sum of
           r's two 16-bit halves read as IEEE float16
  * HYB:   h = (s + 1) * s mod 2^32; row = (h >> 6) & 511; pair = table[row], first value negated
           when bit 15 of h is set
  * HASH6: i = ((0x9E37 * s) mod 2^16) >> 10; value = round(48 * Phi^-1((i + 1/2) / 64)) / 48 in float32,
           Phi^-1 from Python's statistics.NormalDist
  * XOR7:  m = ((0x9E37 * (s >> 9)) mod 2^16) >> 9; i = (s XOR m) mod 128; value =
           round(47 * Phi^-1((r + 1/2) / 128)) / 47 in float32, r = i's 7 bits reversed (a string reversal)

Usage: trellis_reference.py DIR
  DIR/hyb_table.f32  512 x 2 float32 (row-major)
Writes DIR/1mad.f32, DIR/3inst.f32, DIR/hash6.f32 and DIR/xor7.f32 (65536 values, state order) and DIR/hyb.f32
(65536 x 2).
"""
import os
import sys
from statistics import NormalDist

import numpy as np


def main():
    d = sys.argv[1]
    s = np.arange(1 << 16, dtype=np.uint64)
    mask32 = np.uint64((1 << 32) - 1)

    x = (s * np.uint64(34038481) + np.uint64(76625530)) & mask32
    byte_sum = sum(((x >> np.uint64(8 * k)) & np.uint64(255)).astype(np.int64) for k in range(4))
    one_mad = (byte_sum - 510).astype(np.float32) / np.float32(147.800537109375)
    one_mad.astype("<f4").tofile(os.path.join(d, "1mad.f32"))

    x = (s * np.uint64(89226354) + np.uint64(64248484)) & mask32
    r = (x & np.uint64(0x8FFF8FFF)) ^ np.uint64(996162400)
    top = (r >> np.uint64(16)).astype(np.uint16).view(np.float16).astype(np.float32)
    bottom = (r & np.uint64(0xFFFF)).astype(np.uint16).view(np.float16).astype(np.float32)
    (top + bottom).astype("<f4").tofile(os.path.join(d, "3inst.f32"))

    table = np.fromfile(os.path.join(d, "hyb_table.f32"), dtype="<f4").reshape(512, 2)
    h = ((s + np.uint64(1)) * s) & mask32
    rows = ((h >> np.uint64(6)) & np.uint64(511)).astype(np.int64)
    flip = ((h >> np.uint64(15)) & np.uint64(1)).astype(bool)
    pairs = table[rows].copy()
    pairs[flip, 0] = -pairs[flip, 0]
    pairs.astype("<f4").tofile(os.path.join(d, "hyb.f32"))

    quantiles = np.array([round(48 * NormalDist().inv_cdf((i + 0.5) / 64)) for i in range(64)], dtype=np.float32)
    index = (((s * np.uint64(0x9E37)) & np.uint64(0xFFFF)) >> np.uint64(10)).astype(np.int64)
    (quantiles[index] / np.float32(48)).astype("<f4").tofile(os.path.join(d, "hash6.f32"))

    ranks = [int(format(i, "07b")[::-1], 2) for i in range(128)]
    table = np.array([round(47 * NormalDist().inv_cdf((r + 0.5) / 128)) for r in ranks], dtype=np.float32)
    mix = ((((s >> np.uint64(9)) * np.uint64(0x9E37)) & np.uint64(0xFFFF)) >> np.uint64(9))
    index = ((s ^ mix) & np.uint64(127)).astype(np.int64)
    (table[index] / np.float32(47)).astype("<f4").tofile(os.path.join(d, "xor7.f32"))


if __name__ == "__main__":
    main()
