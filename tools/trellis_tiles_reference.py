#!/usr/bin/env python3
"""Independent NumPy reference for QTIP's stored tile layout (src/format/trellis_tiles.h), used by
tests/format/trellis_tiles_test.cc. Written from the layout's definition with NumPy bit arrays
instead of the C++ word arithmetic: a tile is the cyclic bitstream of 256*K bits, stored MSB first
in little-endian 32-bit words; step s of the 256/V steps reads the 16-bit window starting at bit
s*K*V (wrapping around the stream's end); weight s*V + k of the tile (row-major) is
scale * values[window * V + k].

Usage: trellis_tiles_reference.py DIR K V SCALE
  DIR/words.u32   tiles x 8K little-endian uint32
  DIR/values.f32  65536 x V float32, the code's values by state
Writes DIR/weights.f32: tiles x 256 float32.
"""
import os
import sys

import numpy as np


def main():
    d, k, v, scale = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), np.float32(sys.argv[4])
    words = np.fromfile(os.path.join(d, "words.u32"), dtype="<u4").reshape(-1, 8 * k)
    values = np.fromfile(os.path.join(d, "values.f32"), dtype="<f4").reshape(1 << 16, v)
    nbits = 256 * k
    steps = 256 // v
    out = np.empty((words.shape[0], 256), dtype=np.float32)
    for t, tile in enumerate(words):
        bits = np.unpackbits(tile.astype(">u4").view(np.uint8))  # MSB first within each word
        assert bits.size == nbits
        pos = (np.arange(steps)[:, None] * k * v + np.arange(16)[None, :]) % nbits
        states = (bits[pos].astype(np.int64) << np.arange(15, -1, -1)[None, :]).sum(axis=1)
        out[t] = (scale * values[states]).reshape(-1)
    out.astype("<f4").tofile(os.path.join(d, "weights.f32"))


if __name__ == "__main__":
    main()
