#!/usr/bin/env python3
"""Measures the host-side Engram hashing cost of a Python (NumPy) serving harness, for the
paper validation (docs/engram-validation.md): the Engram demo's NgramHashMapping hash
(compressed-id lookup, n-gram windows by padded shifts, multiply-XOR mix, modulo a prime
per head), for the paper's 100B layer (orders 2-3, 8 heads each = 16 rows per token, one
layer), timed per step as nano-vLLM would call it: a decode step hashes each running
sequence's newest token from its last 3 tokens ([B, 3] windows, last column kept); a
prefill step hashes all of its tokens. Prints a linear fit: fixed cost per step plus cost
per token. Needs numpy. Usage: python3 tools/measure-numpy-hash.py
"""
import time
import numpy as np

VOCAB = 129280          # raw vocabulary (V3/V4 tokenizers)
PAD = 2
MAX_N = 3
HEADS = 8
rng = np.random.default_rng(0)
lookup = rng.integers(0, 99092, size=VOCAB, dtype=np.int64)      # compressed-id map
mult = (rng.integers(0, 2**31, size=MAX_N, dtype=np.int64) * 2 + 1)
primes = [[1250000003 + 2 * (o * HEADS + h) for h in range(HEADS)] for o in range(2)]


def demo_hash(ids):
    x = lookup[ids]                                   # compressed tokenizer
    B, T = x.shape
    shifts = [x] + [np.pad(x, ((0, 0), (k, 0)), constant_values=PAD)[:, :T] for k in range(1, MAX_N)]
    out = []
    for n in range(2, MAX_N + 1):
        mix = shifts[0] * mult[0]
        for k in range(1, n):
            mix = np.bitwise_xor(mix, shifts[k] * mult[k])
        for j in range(HEADS):
            out.append((mix % primes[n - 2][j]).astype(np.int64, copy=False))
    return np.stack(out, axis=2)


def time_it(f, reps):
    f()
    t = time.perf_counter()
    for _ in range(reps):
        f()
    return (time.perf_counter() - t) / reps


rows = []
for b in (64, 128, 256, 512):
    ids = rng.integers(0, VOCAB, size=(b, MAX_N))
    t = time_it(lambda: np.ascontiguousarray(demo_hash(ids)[:, -1, :]), 2000)
    rows.append((b, t))
    print(f"decode step, {b:4d} sequences: {t * 1e6:8.1f} us")
for b, tlen in ((16, 1024), (32, 512)):
    ids = rng.integers(0, VOCAB, size=(b, tlen))
    t = time_it(lambda: demo_hash(ids), 20)
    print(f"prefill step, {b} x {tlen} tokens: {t * 1e6:8.1f} us ({t * 1e9 / (b * tlen):.1f} ns/token)")
bs = np.array([r[0] for r in rows], dtype=float)
ts = np.array([r[1] for r in rows], dtype=float)
slope, icpt = np.polyfit(bs, ts, 1)
print(f"decode fit: {icpt * 1e6:.1f} us per step + {slope * 1e9:.1f} ns per token")
