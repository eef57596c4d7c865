//! Per-request latency, as vLLM's benchmark and the shared vLLM runs define it
//! (`../shared/data/vllm-serving/README.md`): queue = first scheduled - arrival, TTFT =
//! first token - arrival, TPOT = (last token - first token) / (output tokens - 1) over
//! requests of more than one output token, inter-token latency = the gap between a
//! request's consecutive tokens, end-to-end = last token - arrival. Means and the p50, p90
//! and p99 percentiles (linear interpolation between closest ranks, NumPy's default, as
//! `benchmark_serving` reports them), and goodput under TTFT and TPOT objectives.
//!
//! The first `warmup_requests` and the last `cooldown_requests` issued are served but not
//! measured. Memory: a record of 56 bytes per request (for `requests.csv` and the
//! percentiles), and inter-token gaps kept to four significant digits in a histogram
//! whose size does not grow with the run (ITL figures within 0.05%).

use std::collections::BTreeMap;

use memwall_sim::Ps;

use crate::fast_hash::FastMap;

/// One served request's timestamps (simulated time, from the first arrival).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestRecord {
    /// Issue order (0-based).
    pub id: u64,
    pub arrival: Ps,
    pub prompt: u32,
    pub output: u32,
    /// First admitted into a batch.
    pub scheduled: Ps,
    pub first_token: Ps,
    pub last_token: Ps,
    /// Inside the measured window (not warm-up or cool-down).
    pub measured: bool,
}

impl RequestRecord {
    pub fn queue(&self) -> Ps {
        self.scheduled - self.arrival
    }
    pub fn ttft(&self) -> Ps {
        self.first_token - self.arrival
    }
    /// Seconds per output token after the first; none for a one-token output.
    pub fn tpot_s(&self) -> Option<f64> {
        (self.output > 1)
            .then(|| (self.last_token - self.first_token).as_secs_f64() / (self.output - 1) as f64)
    }
    pub fn e2e(&self) -> Ps {
        self.last_token - self.arrival
    }
}

/// A distribution's mean and percentiles, seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Dist {
    pub count: u64,
    pub mean_s: f64,
    pub p50_s: f64,
    pub p90_s: f64,
    pub p99_s: f64,
}

/// Linear interpolation between closest ranks (NumPy's default) of `p` in 0..=100, at
/// position `p/100 x (n - 1)` of the ascending values, read by `at(rank)`.
fn interpolate(n: u64, p: f64, at: impl Fn(u64) -> f64) -> f64 {
    let pos = p / 100.0 * (n - 1) as f64;
    let lo = pos.floor() as u64;
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (at(lo), at(hi));
    a + (b - a) * (pos - lo as f64)
}

impl Dist {
    /// Of `v` (seconds; sorted here).
    pub fn of(v: &mut [f64]) -> Dist {
        if v.is_empty() {
            return Dist::default();
        }
        v.sort_by(f64::total_cmp);
        let n = v.len() as u64;
        let q = |p| interpolate(n, p, |i| v[i as usize]);
        Dist {
            count: n,
            mean_s: v.iter().sum::<f64>() / n as f64,
            p50_s: q(50.0),
            p90_s: q(90.0),
            p99_s: q(99.0),
        }
    }

    /// Of a histogram: picoseconds -> how many times.
    pub fn of_counts(h: &BTreeMap<u64, u64>) -> Dist {
        let n: u64 = h.values().sum();
        if n == 0 {
            return Dist::default();
        }
        let sum: f64 = h.iter().map(|(v, c)| *v as f64 * *c as f64).sum();
        // Cumulative counts, to find the value at a rank.
        let cum: Vec<(u64, f64)> = h
            .iter()
            .scan(0u64, |acc, (v, c)| {
                *acc += c;
                Some((*acc, Ps(*v).as_secs_f64()))
            })
            .collect();
        let at = |rank: u64| {
            let i = cum.partition_point(|(c, _)| *c <= rank);
            cum[i.min(cum.len() - 1)].1
        };
        let q = |p| interpolate(n, p, at);
        Dist {
            count: n,
            mean_s: sum / n as f64 / 1e12,
            p50_s: q(50.0),
            p90_s: q(90.0),
            p99_s: q(99.0),
        }
    }
}

/// Service-level objectives of goodput.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Slo {
    pub ttft: Option<Ps>,
    pub tpot: Option<Ps>,
}

/// Measured requests that met every objective given.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Goodput {
    pub slo: Slo,
    pub good: u64,
    /// Good requests per second of the measured window.
    pub per_s: f64,
    /// Good requests over measured requests.
    pub fraction: f64,
}

/// The request metrics of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencySummary {
    /// Requests served, and measured (outside warm-up and cool-down).
    pub requests: u64,
    pub measured: u64,
    /// From the first measured arrival to the last measured token, seconds.
    pub window_s: f64,
    /// Measured requests and their output tokens per second of the window.
    pub request_throughput: f64,
    pub output_throughput: f64,
    pub queue: Dist,
    pub ttft: Dist,
    pub tpot: Dist,
    pub itl: Dist,
    pub e2e: Dist,
    pub goodput: Option<Goodput>,
}

/// Which requests are measured: ids in `warmup..total - cooldown`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub warmup: u64,
    pub cooldown: u64,
    pub total: u64,
}

impl Window {
    pub fn measures(&self, id: u64) -> bool {
        id >= self.warmup && id < self.total.saturating_sub(self.cooldown)
    }
}

/// `ps` rounded to four significant digits: the inter-token histogram then holds at most
/// 9,000 values a decade, however long the run (a relative error under 0.05%).
fn four_digits(ps: u64) -> u64 {
    let mut scale = 1u64;
    while ps / scale >= 10_000 {
        scale *= 10;
    }
    ps.saturating_add(scale / 2) / scale * scale
}

/// Tokens as the step loop delivers them: first and last token of each request in
/// flight, the records of finished requests, and the inter-token gaps of measured ones.
#[derive(Debug, Default)]
pub struct Tracker {
    window: Window,
    inflight: FastMap<u64, (Ps, Ps)>,
    records: Vec<RequestRecord>,
    /// Inter-token gap (ps, four significant digits) -> tokens, of measured requests
    /// (ordered once, at the end).
    itl: FastMap<u64, u64>,
}

impl Tracker {
    pub fn new(window: Window) -> Tracker {
        Tracker {
            window,
            ..Default::default()
        }
    }

    /// Request `id` received a token at `at`.
    pub fn token(&mut self, id: u64, at: Ps) {
        let e = self.inflight.entry(id).or_insert((at, at));
        if at > e.1 && self.window.measures(id) {
            *self.itl.entry(four_digits((at - e.1).0)).or_insert(0) += 1;
        }
        e.1 = at;
    }

    /// Request `id` received its last token (after [`Tracker::token`]).
    pub fn finish(&mut self, id: u64, arrival: Ps, lengths: (u32, u32), scheduled: Ps) {
        let (first, last) = self.inflight.remove(&id).unwrap_or((scheduled, scheduled));
        self.records.push(RequestRecord {
            id,
            arrival,
            prompt: lengths.0,
            output: lengths.1,
            scheduled,
            first_token: first,
            last_token: last,
            measured: self.window.measures(id),
        });
    }

    /// The records in id order and the summary under `slo`.
    pub fn finish_run(mut self, slo: Slo) -> (Vec<RequestRecord>, LatencySummary) {
        self.records.sort_by_key(|r| r.id);
        let itl: BTreeMap<u64, u64> = self.itl.into_iter().collect();
        let s = summarize(&self.records, &itl, slo);
        (self.records, s)
    }
}

/// Means, percentiles, throughput and goodput of the measured records.
pub fn summarize(records: &[RequestRecord], itl: &BTreeMap<u64, u64>, slo: Slo) -> LatencySummary {
    let m: Vec<&RequestRecord> = records.iter().filter(|r| r.measured).collect();
    let secs = |f: fn(&RequestRecord) -> Ps| -> Vec<f64> {
        m.iter().map(|r| f(r).as_secs_f64()).collect()
    };
    let start = m.iter().map(|r| r.arrival).min().unwrap_or(Ps::ZERO);
    let end = m.iter().map(|r| r.last_token).max().unwrap_or(Ps::ZERO);
    let window_s = (end - start.min(end)).as_secs_f64();
    let per_s = |x: f64| if window_s > 0.0 { x / window_s } else { 0.0 };
    let tokens: u64 = m.iter().map(|r| r.output as u64).sum();
    let goodput = (slo.ttft.is_some() || slo.tpot.is_some()).then(|| {
        let good = m
            .iter()
            .filter(|r| slo.ttft.is_none_or(|t| r.ttft() <= t))
            .filter(|r| {
                let limit = slo.tpot.map(|t| t.as_secs_f64());
                limit.is_none_or(|t| r.tpot_s().is_none_or(|x| x <= t))
            })
            .count() as u64;
        Goodput {
            slo,
            good,
            per_s: per_s(good as f64),
            fraction: if m.is_empty() {
                0.0
            } else {
                good as f64 / m.len() as f64
            },
        }
    });
    LatencySummary {
        requests: records.len() as u64,
        measured: m.len() as u64,
        window_s,
        request_throughput: per_s(m.len() as f64),
        output_throughput: per_s(tokens as f64),
        queue: Dist::of(&mut secs(RequestRecord::queue)),
        ttft: Dist::of(&mut secs(RequestRecord::ttft)),
        tpot: Dist::of(&mut m.iter().filter_map(|r| r.tpot_s()).collect::<Vec<_>>()),
        itl: Dist::of_counts(itl),
        e2e: Dist::of(&mut secs(RequestRecord::e2e)),
        goodput,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: u64) -> Ps {
        Ps(x * 1_000_000_000)
    }

    #[test]
    fn percentiles_interpolate_as_numpy_does() {
        // numpy.percentile([1, 2, 3, 4], [50, 90, 99]) = 2.5, 3.7, 3.97
        let d = Dist::of(&mut [4.0, 1.0, 3.0, 2.0]);
        assert_eq!(d.count, 4);
        assert!((d.mean_s - 2.5).abs() < 1e-12);
        assert!((d.p50_s - 2.5).abs() < 1e-12);
        assert!((d.p90_s - 3.7).abs() < 1e-12);
        assert!((d.p99_s - 3.97).abs() < 1e-12);
        // The same values as a histogram give the same figures.
        let h: BTreeMap<u64, u64> = [
            (1_000_000_000_000, 1),
            (2_000_000_000_000, 1),
            (3_000_000_000_000, 1),
            (4_000_000_000_000, 1),
        ]
        .into();
        assert_eq!(Dist::of_counts(&h), d);
        // Repeated values: [1, 1, 1, 5] -> p50 1, p90 3.8.
        let h: BTreeMap<u64, u64> = [(1_000_000_000_000, 3), (5_000_000_000_000, 1)].into();
        let d = Dist::of_counts(&h);
        assert!(
            (d.p50_s - 1.0).abs() < 1e-12 && (d.p90_s - 3.8).abs() < 1e-12,
            "{d:?}"
        );
        assert_eq!(Dist::of(&mut []), Dist::default());
    }

    #[test]
    fn gaps_keep_four_significant_digits() {
        assert_eq!(four_digits(0), 0);
        assert_eq!(four_digits(9_999), 9_999);
        assert_eq!(four_digits(12_345), 12_350);
        assert_eq!(four_digits(16_151_949_000), 16_150_000_000);
        assert_eq!(four_digits(u64::MAX / 2), 9_223_000_000_000_000_000);
    }

    #[test]
    fn a_request_is_timed_from_its_arrival() {
        let mut t = Tracker::new(Window {
            warmup: 1,
            cooldown: 0,
            total: 2,
        });
        // Request 1 arrives at 10 ms, is scheduled at 15, tokens at 40, 60, 100 ms.
        for at in [40, 60, 100] {
            t.token(1, ms(at));
        }
        t.finish(1, ms(10), (7, 3), ms(15));
        // Request 0 (warm-up): measured nowhere.
        t.token(0, ms(5));
        t.token(0, ms(500));
        t.finish(0, ms(0), (7, 2), ms(0));
        let slo = Slo {
            ttft: Some(ms(30)),
            tpot: Some(ms(20)),
        };
        let (recs, s) = t.finish_run(slo);
        assert_eq!(recs.iter().map(|r| r.id).collect::<Vec<_>>(), [0, 1]);
        let r = recs[1];
        assert_eq!((r.queue(), r.ttft(), r.e2e()), (ms(5), ms(30), ms(90)));
        assert!((r.tpot_s().unwrap() - 0.030).abs() < 1e-12);
        assert_eq!((s.requests, s.measured), (2, 1));
        assert!((s.ttft.mean_s - 0.030).abs() < 1e-12);
        // Gaps of 20 and 40 ms; the warm-up request's 495 ms gap is not measured.
        assert_eq!(s.itl.count, 2);
        assert!((s.itl.p50_s - 0.030).abs() < 1e-12);
        assert!((s.window_s - 0.090).abs() < 1e-12);
        // TTFT 30 ms meets its objective; TPOT 30 ms misses 20 ms.
        let g = s.goodput.unwrap();
        assert_eq!(g.good, 0);
        let (_, s) = Tracker::new(Window::default()).finish_run(Slo::default());
        assert!(s.goodput.is_none() && s.requests == 0);
    }
}
