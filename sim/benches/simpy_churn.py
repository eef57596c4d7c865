#!/usr/bin/env python3
"""Event-queue churn in SimPy, the same "hold" model as `cargo bench -p memwall-sim
--bench kernel` (a): a queue of pending timeouts where each one, when it fires,
schedules one new timeout a pseudo-random time ahead (1 to 1,000,000 time units).

Two ways a SimPy user would write it:
- callbacks: a bare `env.timeout()` whose callback schedules the next one (the event
  queue alone, the closest match to the Rust bench);
- processes: `pending` generator processes, each looping `yield env.timeout(d)`.

Run by sim/benches/run.sh inside a virtual environment with simpy==4.1.2;
`--quick` runs a tenth of the events, like the Rust bench.
"""

import random
import sys
import time

import simpy

PENDING = 1_000


def callbacks(events: int) -> float:
    env = simpy.Environment()
    rnd = random.Random(42).random
    left = [events]

    def fire(_event):
        left[0] -= 1
        if left[0] > 0:
            env.timeout(1 + int(rnd() * 1_000_000)).callbacks.append(fire)

    for _ in range(PENDING):
        env.timeout(int(rnd() * 1_000_000)).callbacks.append(fire)
    t0 = time.perf_counter()
    # `left` reaches 0 after `events` firings; the rest of the queue is never run.
    while left[0] > 0:
        env.step()
    return events / (time.perf_counter() - t0)


def processes(events: int) -> float:
    env = simpy.Environment()
    rnd = random.Random(42).random
    per = events // PENDING

    def holder(first: int):
        yield env.timeout(first)
        for _ in range(per - 1):
            yield env.timeout(1 + int(rnd() * 1_000_000))

    for _ in range(PENDING):
        env.process(holder(int(rnd() * 1_000_000)))
    t0 = time.perf_counter()
    env.run()
    return per * PENDING / (time.perf_counter() - t0)


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    events = 1_000_000 if quick else 10_000_000
    print(f"simpy {simpy.__version__} (Python {sys.version.split()[0]})")
    print(f"simpy churn, {PENDING} pending, callbacks: {callbacks(events) / 1e6:.2f} M events/s")
    print(f"simpy churn, {PENDING} pending, processes: {processes(events) / 1e6:.2f} M events/s")


if __name__ == "__main__":
    main()
