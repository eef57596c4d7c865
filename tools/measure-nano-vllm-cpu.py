#!/usr/bin/env python3
"""Times nano-vLLM's per-step CPU work (the Python side of one engine step) on this machine.

nano-vLLM (GeeeekExplorer/nano-vllm @bb823b3, the Engram paper's harness) runs each step
synchronously: Scheduler.schedule -> ModelRunner.prepare_decode/prepare_prefill and
prepare_sample -> the GPU -> Scheduler.postprocess (block hashing with xxhash, appends,
stop checks). This script runs nano-vLLM's own scheduler, block manager, sequence and
input-preparation code unmodified, with torch replaced by a stub that keeps the Python
lists (so torch.tensor(..., pin_memory=True).cuda() costs nothing here), on bench.py's
workload: 512 sequences of random token ids in [0, 10000), prompt and output lengths
uniform in [100, 1024], seed 0. It prints the mean CPU time per prefill and per decode
step (process CPU time, so other load on the machine does not count) and a least-squares fit of decode steps as `a + b x sequences`.

Not measured (no torch or GPU here): tensor creation and pinned host-to-device copies,
the sampler, `.tolist()`, the CUDA-graph input copies. Those are launched or synchronised
work, reported separately in docs/engines.md.

Usage: python3 tools/measure-nano-vllm-cpu.py PATH_TO_NANO_VLLM_CHECKOUT
(needs numpy and xxhash, which nano-vLLM's block manager imports).
"""

import random
import sys
import time
import types


def stub_modules():
    """torch, transformers and the model modules nano-vLLM imports, as stubs."""

    class T(list):
        def cuda(self, non_blocking=False):
            return self

    torch = types.ModuleType("torch")
    torch.tensor = lambda data, dtype=None, pin_memory=False: T(data)
    torch.int64 = torch.int32 = torch.float32 = None
    torch.inference_mode = lambda: (lambda f: f)
    torch.Tensor = T
    dist = types.ModuleType("torch.distributed")
    torch.distributed = dist
    sys.modules["torch"] = torch
    sys.modules["torch.distributed"] = dist
    tr = types.ModuleType("transformers")
    tr.AutoConfig = object
    sys.modules["transformers"] = tr
    for name, attrs in [
        ("nanovllm.models.qwen3", ["Qwen3ForCausalLM"]),
        ("nanovllm.layers.sampler", ["Sampler"]),
        ("nanovllm.utils.loader", ["load_model"]),
    ]:
        m = types.ModuleType(name)
        for a in attrs:
            setattr(m, a, object)
        sys.modules[name] = m
    pkg = types.ModuleType("nanovllm")
    pkg.__path__ = [sys.argv[1] + "/nanovllm"]
    sys.modules["nanovllm"] = pkg


def main():
    stub_modules()
    from nanovllm.engine.model_runner import ModelRunner
    from nanovllm.engine.scheduler import Scheduler
    from nanovllm.engine.sequence import Sequence
    from nanovllm.sampling_params import SamplingParams

    cfg = types.SimpleNamespace(
        max_num_seqs=512,
        max_num_batched_tokens=16384,
        eos=-1,
        kvcache_block_size=256,
        num_kvcache_blocks=4096,
    )
    Sequence.block_size = 256
    sched = Scheduler(cfg)
    runner = object.__new__(ModelRunner)
    runner.block_size = 256
    runner.rank = 0
    rng = random.Random(0)
    for _ in range(512):
        n = rng.randint(100, 1024)
        prompt = [rng.randint(0, 10000) for _ in range(n)]
        sp = SamplingParams(temperature=0.6, max_tokens=rng.randint(100, 1024), ignore_eos=True)
        sched.add(Sequence(prompt, sp))
    prefill, decode = [], []
    while not sched.is_finished():
        t = time.process_time()
        seqs, is_prefill = sched.schedule()
        if is_prefill:
            runner.prepare_prefill(seqs)
        else:
            runner.prepare_decode(seqs)
        runner.prepare_sample(seqs)
        tokens = [rng.randint(0, 10000) for _ in seqs]
        sched.postprocess(seqs, tokens, is_prefill)
        dt = time.process_time() - t
        (prefill if is_prefill else decode).append((len(seqs), dt))
    mean = lambda v: sum(d for _, d in v) / max(len(v), 1)
    print(f"prefill steps {len(prefill)}: mean {mean(prefill) * 1e6:.0f} us")
    print(f"decode steps {len(decode)}: mean {mean(decode) * 1e6:.0f} us")
    n = len(decode)
    sx = sum(s for s, _ in decode)
    sy = sum(d for _, d in decode)
    sxx = sum(s * s for s, _ in decode)
    sxy = sum(s * d for s, d in decode)
    b = (n * sxy - sx * sy) / (n * sxx - sx * sx)
    a = (sy - b * sx) / n
    print(f"decode fit: {a * 1e6:.1f} us + {b * 1e9:.0f} ns x sequences")


if __name__ == "__main__":
    main()
