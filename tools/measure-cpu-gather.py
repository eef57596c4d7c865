#!/usr/bin/env python3
"""Measures the host-side CPU gather of Engram rows that a Python (nano-vLLM-style) harness
would do with the table as a CPU tensor, for the paper validation
(docs/engram-validation.md): `table[ids]` / index_select of random rows of 160 B (80 bf16
values, the paper's Engram-27B/40B row) from a table far larger than the last-level cache,
into a preallocated (pinned, where torch is available) staging buffer, on one thread.
Batches: decode steps (B sequences x 16 rows per token) and prefill steps (up to 16,384
tokens x 16 rows). Random row ids (the hash spreads ids uniformly over the table).
Prints per-step times and a linear fit: fixed cost per step plus cost per row.
Needs numpy; uses torch too when importable (CPU; pinned staging buffer only if CUDA).
Usage: python3 tools/measure-cpu-gather.py [TABLE_GIB]   (default 8)
"""
import sys
import time
import numpy as np

GIB = float(sys.argv[1]) if len(sys.argv) > 1 else 8.0
ROW_VALUES = 80                 # bf16 values per row (stored as uint16: same bytes)
ROW_BYTES = ROW_VALUES * 2      # 160 B
ROWS_PER_TOKEN = 16             # orders 2-3 x 8 heads
N = int(GIB * 2**30 / ROW_BYTES)
rng = np.random.default_rng(0)

print(f"table: {N:,} rows x {ROW_BYTES} B = {N * ROW_BYTES / 2**30:.2f} GiB; threads: 1")
table = np.empty((N, ROW_VALUES), dtype=np.uint16)
# Touch every page (and fill with non-zero data) so that nothing is served from zero pages.
chunk = 1 << 22
for s in range(0, N, chunk):
    table[s:s + chunk] = (np.arange(s, min(N, s + chunk), dtype=np.uint64)[:, None]
                          & 0xFFFF).astype(np.uint16)

TOKENS = [("decode", 64), ("decode", 128), ("decode", 256), ("decode", 512),
          ("prefill", 2048), ("prefill", 8192), ("prefill", 16384)]


def time_it(f, reps):
    f()
    best = []
    t0 = time.perf_counter()
    for _ in range(reps):
        t = time.perf_counter()
        f()
        best.append(time.perf_counter() - t)
    return (time.perf_counter() - t0) / reps, min(best)


def run(name, gather):
    xs, ys = [], []
    for kind, tokens in TOKENS:
        rows = tokens * ROWS_PER_TOKEN
        reps = max(5, min(400, 4_000_000 // rows))
        # A fresh id set per repetition would measure the same thing; one random set
        # per size, repeated, still misses the cache (rows*160 B >> nothing reused
        # between calls for the larger sizes; for small ones see the cold figure).
        ids = rng.integers(0, N, size=rows, dtype=np.int64)
        mean, best = time_it(lambda: gather(ids), reps)
        # Cold: new ids each call (rows not in cache from the previous call).
        idsets = [rng.integers(0, N, size=rows, dtype=np.int64) for _ in range(min(reps, 20))]
        t = time.perf_counter()
        for s in idsets:
            gather(s)
        cold = (time.perf_counter() - t) / len(idsets)
        xs.append(rows)
        ys.append(cold)
        print(f"{name:14s} {kind:7s} {tokens:6d} tokens {rows:7d} rows: "
              f"cold {cold * 1e6:9.1f} us ({cold * 1e9 / rows:5.1f} ns/row, "
              f"{rows * ROW_BYTES / cold / 1e9:5.2f} GB/s); warm ids {mean * 1e6:9.1f} us")
    slope, icpt = np.polyfit(np.array(xs, float), np.array(ys, float), 1)
    print(f"{name:14s} fit (cold): {icpt * 1e6:.1f} us per step + {slope * 1e9:.2f} ns per row")


out = np.empty((16384 * ROWS_PER_TOKEN, ROW_VALUES), dtype=np.uint16)
run("numpy take", lambda ids: np.take(table, ids, axis=0, out=out[:len(ids)]))
run("numpy table[ids]", lambda ids: table[ids])

try:
    import torch
except ImportError:
    torch = None
if torch is not None:
    torch.set_num_threads(1)
    tt = torch.from_numpy(table.view(np.int16)).view(torch.bfloat16)
    pin = torch.cuda.is_available()
    stage = torch.empty((16384 * ROWS_PER_TOKEN, ROW_VALUES), dtype=torch.bfloat16,
                        pin_memory=pin)
    print(f"torch {torch.__version__}, staging buffer pinned: {pin}")

    def ts(ids):
        i = torch.from_numpy(ids)
        torch.index_select(tt, 0, i, out=stage[:len(ids)])

    def tix(ids):
        return tt[torch.from_numpy(ids)]

    run("torch idx_sel", ts)
    run("torch t[ids]", tix)
