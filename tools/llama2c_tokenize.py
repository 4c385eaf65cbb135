#!/usr/bin/python3
"""Straight Python port of llama2.c's quadratic encode() (run.c), as a reference for
quip's llama2.c tokenizer. No BOS/EOS; the dummy-prefix space is added as llama2.c does.

Usage:
  llama2c_tokenize.py --tokenizer tok512.bin --vocab 512 --text FILE      # ids, space separated
  llama2c_tokenize.py --tokenizer tok512.bin --vocab 512 --decode 1,403,407
"""
import argparse
import struct
import sys


def load(path, vocab_size):
    with open(path, "rb") as f:
        blob = f.read()
    (max_len,) = struct.unpack_from("<i", blob, 0)
    at = 4
    vocab, scores = [], []
    for _ in range(vocab_size):
        score, n = struct.unpack_from("<fi", blob, at)
        at += 8
        vocab.append(blob[at:at + n])
        at += n
        scores.append(score)
    return vocab, scores, max_len


def encode(text, vocab, scores):
    """llama2.c encode(text, bos=0, eos=0) on UTF-8 bytes."""
    lookup = {}
    for i, t in enumerate(vocab):
        lookup.setdefault(t, i)
    tokens = []
    if len(text) == 0:
        return tokens
    if b" " in lookup:  # add_dummy_prefix
        tokens.append(lookup[b" "])
    buf = b""
    for i, c in enumerate(text):
        if (c & 0xC0) != 0x80:
            buf = b""
        buf += bytes([c])
        if i + 1 < len(text) and (text[i + 1] & 0xC0) == 0x80 and len(buf) < 4:
            continue
        if buf in lookup:
            tokens.append(lookup[buf])
        else:
            tokens.extend(b + 3 for b in buf)  # byte fallback: <0x00> is id 3
        buf = b""
    while True:  # merge the best-scoring adjacent pair, leftmost on ties, until none merges
        best_score, best_id, best_idx = -1e10, -1, -1
        for i in range(len(tokens) - 1):
            pid = lookup.get(vocab[tokens[i]] + vocab[tokens[i + 1]])
            if pid is not None and scores[pid] > best_score:
                best_score, best_id, best_idx = scores[pid], pid, i
        if best_idx == -1:
            break
        tokens[best_idx:best_idx + 2] = [best_id]
    return tokens


def decode(ids, vocab, bos=1):
    """llama2.c decode(): strip the leading space after BOS; <0xNN> pieces become that byte."""
    out = b""
    prev = bos
    for t in ids:
        piece = vocab[t]
        if prev == bos and piece.startswith(b" "):
            piece = piece[1:]
        if len(piece) == 6 and piece.startswith(b"<0x") and piece.endswith(b">"):
            piece = bytes([int(piece[3:5], 16)])
        if t in (0, 1, 2):
            piece = b""
        out += piece
        prev = t
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True)
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--text", help="UTF-8 text file to encode")
    ap.add_argument("--decode", help="comma-separated ids to decode")
    args = ap.parse_args()
    vocab, scores, _ = load(args.tokenizer, args.vocab)
    if args.text:
        with open(args.text, "rb") as f:
            print(" ".join(str(t) for t in encode(f.read(), vocab, scores)))
    if args.decode:
        sys.stdout.buffer.write(decode([int(t) for t in args.decode.split(",")], vocab))


if __name__ == "__main__":
    main()
