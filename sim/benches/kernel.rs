//! Kernel throughput, measured on one core (`cargo bench -p memwall-sim --bench kernel`;
//! `-- --quick` runs a tenth; `-- churn`, `-- flows` or `-- a2a` runs one part).
//!
//! (a) Event-queue churn: the classic "hold" model — a queue of pending events where each
//!     pop schedules one new event a pseudo-random time ahead. `sim/benches/run.sh` runs
//!     the same model in SimPy (`simpy_churn.py`) and prints the ratio. Besides events
//!     per wall second it prints events per second of this thread's CPU time (Linux),
//!     which moves less when other processes share the machine.
//! (b) Flow contention: 1 M flows over 64 links (one or two hops each, arriving over
//!     time, about 256 in flight) run through the executor, with max-min fair rates
//!     brought up to date on every start and end.
//! (c) All-to-all: 64 endpoints each send one flow of uneven size to every other, all
//!     starting together (4,032 flows a round, 63 on every link); each end changes the
//!     fair share of a network where every flow shares a link with 124 others.

use memwall_sim::*;
use std::time::Instant;

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// This thread's time on a CPU so far, in nanoseconds: the first field of Linux's
/// `/proc/thread-self/schedstat`; `None` where there is no such file.
fn cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Events per wall second and, where measurable, per CPU second.
fn churn(pending: usize, events: u64) -> (f64, Option<f64>) {
    let mut q: EventQueue<u32> = EventQueue::with_capacity(pending);
    let mut x = 0x9E3779B97F4A7C15u64;
    for i in 0..pending {
        q.schedule(Ps(xorshift(&mut x) % 1_000_000), i as u64, i as u32);
    }
    let (t0, c0) = (Instant::now(), cpu_ns());
    let mut n = 0u64;
    while n < events {
        let (t, e) = q.pop().expect("hold model never empties");
        q.schedule(Ps(t.0 + 1 + xorshift(&mut x) % 1_000_000), e as u64, e);
        n += 1;
    }
    let wall = n as f64 / t0.elapsed().as_secs_f64();
    let cpu = c0
        .zip(cpu_ns())
        .filter(|(a, b)| b > a)
        .map(|(a, b)| n as f64 / ((b - a) as f64 * 1e-9));
    (wall, cpu)
}

fn flows(total: u64, links: usize) -> (f64, u64, f64, Ps) {
    let mut net = FlowNet::new();
    let r: Vec<_> = (0..links)
        .map(|i| net.add_resource(format!("l{i}"), 50_000_000_000).unwrap())
        .collect();
    let mut ex = Executor::new(net);
    let c = ex.category("flow", OpKind::Memory);
    let w = ex.category("gap", OpKind::Marker);
    // 256 issuing streams; each issues its flows back to back with short random gaps, so
    // about 256 flows are in flight at any time.
    let streams: Vec<_> = (0..256)
        .map(|i| ex.add_stream(format!("s{i}"), true, false))
        .collect();
    let mut x = 42u64;
    let t0 = Instant::now();
    let mut added = 0u64;
    let batch = 4096;
    while added < total {
        let mut last = OpId(0);
        for _ in 0..batch.min(total - added) {
            let s = streams[(xorshift(&mut x) % streams.len() as u64) as usize];
            let a = r[(xorshift(&mut x) % links as u64) as usize];
            let path = if xorshift(&mut x).is_multiple_of(2) {
                vec![a]
            } else {
                vec![a, r[(xorshift(&mut x) % links as u64) as usize]]
            };
            let bytes = 4096 + xorshift(&mut x) % (1 << 20);
            ex.add_op(OpSpec::new(
                s,
                w,
                Work::Delay(Ps(xorshift(&mut x) % 2_000_000)),
            ))
            .unwrap();
            last = ex
                .add_op(OpSpec::new(
                    s,
                    c,
                    Work::Transfer {
                        latency: Ps::ZERO,
                        flows: vec![FlowSpec {
                            path,
                            bytes,
                            rate_cap: None,
                        }],
                    },
                ))
                .unwrap();
            added += 1;
        }
        ex.run_until_done(last).unwrap();
        // Keep memory flat: forget what has finished.
        let mut keep = ex.timeline().base;
        for rec in &ex.timeline().records {
            if !rec.finished() {
                break;
            }
            keep = rec.id.0 + 1;
        }
        ex.forget_before(OpId(keep)).unwrap();
    }
    ex.run().unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let ev = ex.events_processed();
    (ev as f64 / secs, ev, secs, ex.now())
}

/// (c) All-to-all: every one of `gpus` endpoints (its own send and receive link, 50 GB/s
/// each) sends one flow of a random size (16-48 KiB, as uneven as expert loads) to
/// every other, one transfer op per endpoint and round, rounds back to back on each
/// endpoint's stream. Flows start together and end one by one.
fn all_to_all(gpus: usize, rounds: usize) -> (f64, u64, u64, f64, Ps) {
    let mut net = FlowNet::new();
    let mut link = |name: String| net.add_resource(name, 50_000_000_000).unwrap();
    let tx: Vec<_> = (0..gpus).map(|i| link(format!("tx{i}"))).collect();
    let rx: Vec<_> = (0..gpus).map(|i| link(format!("rx{i}"))).collect();
    let mut ex = Executor::new(net);
    let c = ex.category("a2a", OpKind::Memory);
    let streams: Vec<_> = (0..gpus)
        .map(|i| ex.add_stream(format!("g{i}"), true, false))
        .collect();
    let mut x = 7u64;
    for _ in 0..rounds {
        for (src, &s) in streams.iter().enumerate() {
            let flows = (0..gpus)
                .filter(|&dst| dst != src)
                .map(|dst| FlowSpec {
                    path: vec![tx[src], rx[dst]],
                    bytes: 16_384 + xorshift(&mut x) % 32_768,
                    rate_cap: None,
                })
                .collect();
            let work = Work::Transfer {
                latency: Ps::ZERO,
                flows,
            };
            ex.add_op(OpSpec::new(s, c, work)).unwrap();
        }
    }
    let t0 = Instant::now();
    ex.run().unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let ev = ex.events_processed();
    let flows = (gpus * (gpus - 1) * rounds) as u64;
    (ev as f64 / secs, ev, flows, secs, ex.now())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let part = |name: &str| {
        let picked = args
            .iter()
            .any(|a| ["churn", "flows", "a2a"].contains(&a.as_str()));
        !picked || args.iter().any(|a| a == name)
    };
    let scale = if quick { 10 } else { 1 };
    if part("churn") {
        for pending in [1_000usize, 100_000] {
            let (rate, cpu) = churn(pending, 50_000_000 / scale);
            let per_cpu = cpu.map_or(String::new(), |c| {
                format!(" ({:.1} M per CPU second)", c / 1e6)
            });
            println!(
                "event-queue churn, {pending} pending: {:.1} M events/s{per_cpu}",
                rate / 1e6
            );
        }
    }
    if part("flows") {
        let (rate, ev, secs, end) = flows(1_000_000 / scale, 64);
        println!(
            "flow contention, {} flows over 64 links: {:.2} M events/s ({ev} events in {secs:.2} s; {:.0} flows/s; simulated {end})",
            1_000_000 / scale,
            rate / 1e6,
            (1_000_000 / scale) as f64 / secs
        );
    }
    if part("a2a") {
        let rounds = if quick { 1 } else { 10 };
        let (rate, ev, flows, secs, end) = all_to_all(64, rounds);
        println!(
            "all-to-all, 64 endpoints x {rounds} rounds ({flows} flows): {:.1} k events/s ({ev} events in {secs:.2} s; {:.0} flows/s; simulated {end})",
            rate / 1e3,
            flows as f64 / secs
        );
    }
}
