#!/usr/bin/env python3
"""Event-queue churn in SimPy, the same "hold" model as `cargo bench -p memwall-sim
--bench kernel` (a): a queue of pending timeouts where each one, when it fires,
schedules one new timeout a pseudo-random time ahead (1 to 1,000,000 time units).

Two ways a SimPy user would write it:
- callbacks: a bare `env.timeout()` whose callback schedules the next one (the event
  queue alone, the closest match to the Rust bench);
- processes: `pending` generator processes, each looping `yield env.timeout(d)`.

Run by sim/benches/run.sh inside a virtual environment with simpy==4.1.2;
`--quick` runs a tenth of the events, like the Rust bench. Each rate is given per
wall second and per second of this thread's CPU time, as the Rust bench does.
"""

import random
import sys
import time

import simpy

PENDING = 1_000


def rates(events: int, t0: float, c0: float) -> tuple[float, float]:
    """Events per wall second and per CPU second since (t0, c0)."""
    return events / (time.perf_counter() - t0), events / (time.thread_time() - c0)


def callbacks(events: int) -> tuple[float, float]:
    env = simpy.Environment()
    rnd = random.Random(42).random
    left = [events]

    def fire(_event):
        left[0] -= 1
        if left[0] > 0:
            env.timeout(1 + int(rnd() * 1_000_000)).callbacks.append(fire)

    for _ in range(PENDING):
        env.timeout(int(rnd() * 1_000_000)).callbacks.append(fire)
    t0, c0 = time.perf_counter(), time.thread_time()
    # `left` reaches 0 after `events` firings; the rest of the queue is never run.
    while left[0] > 0:
        env.step()
    return rates(events, t0, c0)


def processes(events: int) -> tuple[float, float]:
    env = simpy.Environment()
    rnd = random.Random(42).random
    per = events // PENDING

    def holder(first: int):
        yield env.timeout(first)
        for _ in range(per - 1):
            yield env.timeout(1 + int(rnd() * 1_000_000))

    for _ in range(PENDING):
        env.process(holder(int(rnd() * 1_000_000)))
    t0, c0 = time.perf_counter(), time.thread_time()
    env.run()
    return rates(per * PENDING, t0, c0)


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    events = 1_000_000 if quick else 10_000_000
    print(f"simpy {simpy.__version__} (Python {sys.version.split()[0]})")
    for name, run in (("callbacks", callbacks), ("processes", processes)):
        wall, cpu = run(events)
        print(
            f"simpy churn, {PENDING} pending, {name}: {wall / 1e6:.2f} M events/s"
            f" ({cpu / 1e6:.2f} M per CPU second)"
        )


if __name__ == "__main__":
    main()
