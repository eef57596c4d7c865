#!/usr/bin/env python3
"""Captures an Engram access trace from a small serving loop through the Python hook
(tools/memwall_trace.py), as an engine would: continuous batching with chunked prefill
(vLLM-style mixed steps: running decodes first, then waiting prompts under a token budget),
the Engram reference demo's hash front end per step and per Engram layer (the demo config:
layers 1 and 15, orders 2-3, 8 heads; multipliers, primes and offsets read from
engram_demo_vectors.json, computed from deepseek-ai/Engram engram_demo_v1.py), each
layer's lookup timed with perf_counter_ns, and every token's sequence id and position.

Token text: slices of a text corpus (default: the Shakespeare corpus of
tools/fetch-inputs.sh), each word mapped to a compressed id by CRC-32 modulo the demo's
compressed vocabulary (98,627): a stand-in for the DeepSeek-V3 tokenizer, which needs the
`tokenizers` package, so repeated words and phrases reuse rows as real text does.

The demo itself (engram_demo_v1.py) needs torch, transformers and the tokenizer from the
Hugging Face hub; this loop runs its hash with the standard library only.

Usage: python3 tools/capture-engram-trace.py VECTORS_JSON CORPUS OUT.mwet
       [--requests N] [--seed S]
"""
import argparse
import json
import os
import random
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memwall_trace import EngramTraceWriter  # noqa: E402

PAD = 2          # the demo's pad id (compressed)
MAX_N = 3        # orders 2 and 3
HEADS = 8


def corpus_ids(path, vocab):
    """The corpus (a file or a folder of .md/.txt files, sorted) as compressed ids."""
    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(path, f) for f in os.listdir(path) if f.endswith((".md", ".txt")))
    ids = []
    for f in files:
        with open(f, encoding="utf-8", errors="replace") as h:
            for word in h.read().split():
                ids.append(zlib.crc32(word.lower().encode()) % vocab)
    return ids


class DemoHash:
    """The demo's NgramHashMapping for one layer: multiply-XOR over the last n tokens,
    modulo a prime per (order, head), plus the head's offset in the layer's table."""

    def __init__(self, d, layer):
        self.mult = d["layer_multipliers"][str(layer)]
        self.primes = d["table_sizes_primes"][str(layer)]
        self.offsets = d["flat_offsets"][str(layer)]

    def rows(self, hist):
        """16 flat row ids of the newest token of `hist` (its last MAX_N ids, padded)."""
        x = [PAD] * (MAX_N - len(hist)) + hist[-MAX_N:]
        out = []
        for n in range(2, MAX_N + 1):
            mix = 0
            for k in range(n):
                mix ^= x[-1 - k] * self.mult[k]
            for j in range(HEADS):
                out.append(mix % self.primes[n - 2][j] + self.offsets[(n - 2) * HEADS + j])
        return out


def schedule(running, waiting, budget, max_seqs):
    """One mixed step: [(seq, first_pos, n_tokens)], decodes first, then prompt chunks."""
    work = []
    for s in running:
        if s["done"] < s["prompt"]:
            continue
        work.append((s, s["done"], 1))
        budget -= 1
    for s in running + waiting:
        if budget <= 0 or len(work) >= max_seqs:
            break
        left = s["prompt"] - s["done"]
        if left > 0:
            n = min(left, budget)
            work.append((s, s["done"], n))
            budget -= n
    return work


def run(args):
    with open(args.vectors) as f:
        vec = json.load(f)
    d = vec["derived"]
    layers = vec["config"]["layer_ids"]
    vocab = vec["tokenizer"]["compressed_vocab_size"]
    hashes = {l: DemoHash(d, l) for l in layers}
    text = corpus_ids(args.corpus, vocab)
    rng = random.Random(args.seed)
    reqs = []
    for i in range(args.requests):
        prompt, out = rng.randint(48, 96), rng.randint(6, 12)
        at = rng.randrange(0, len(text) - prompt - out)
        reqs.append({"id": i, "ids": text[at:at + prompt + out], "prompt": prompt,
                     "total": prompt + out, "done": 0})
    primes = [[p for order in d["table_sizes_primes"][str(l)] for p in order] for l in layers]
    w = EngramTraceWriter(args.out, config_name="demo", layer_ids=layers, orders=[2, 3],
                          heads_per_order=HEADS,
                          table_rows=[d["rows_per_layer_table"][str(l)] for l in layers],
                          head_table_sizes=primes, compressed_vocab_size=vocab,
                          row_bytes=256,
                          source={"kind": "engine", "engine": "tools/capture-engram-trace.py",
                                  "hash": "engram_demo_v1.py NgramHashMapping (demo config)",
                                  "corpus": os.path.basename(os.path.normpath(args.corpus)),
                                  "requests": args.requests, "seed": args.seed})
    waiting, running, step = list(reqs), [], 0
    while waiting or running:
        while waiting and len(running) < 4:
            running.append(waiting.pop(0))
        work = schedule(running, [], budget=128, max_seqs=4)
        seq = [s["id"] for s, p, n in work for _ in range(n)]
        pos = [p + k for s, p, n in work for k in range(n)]
        for l in layers:
            t0 = time.perf_counter_ns()
            rows = [hashes[l].rows(s["ids"][:p + k + 1]) for s, p, n in work for k in range(n)]
            t1 = time.perf_counter_ns()
            w.write(step, l, rows, t_start_ns=t0, t_end_ns=t1, seq_ids=seq, positions=pos)
        for s, p, n in work:
            s["done"] = p + n
        running = [s for s in running if s["done"] < s["total"]]
        step += 1
    w.close()
    print(f"wrote {args.out}: {step} steps, {len(reqs)} requests")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("vectors")
    ap.add_argument("corpus")
    ap.add_argument("out")
    ap.add_argument("--requests", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    run(ap.parse_args())
