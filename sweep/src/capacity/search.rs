//! The rate search of one cell: bracketing, then bisection.
//!
//! Assumption (stated, not proven): whether the SLOs hold is monotone in the rate, i.e.
//! a rate that meets them is met by every lower rate. The stream at rate `r` is the same
//! seeded stream at every rate with its arrival times divided by `r` (the Poisson draws
//! are the same numbers), so a higher rate only packs the same requests closer. Batching
//! can still make the percentiles wiggle by a few percent near the limit; the answer is
//! then a rate that meets the SLOs with a rate `tolerance` above it that does not.

use super::spec::{Search, Slos};
use memwall_serve::LatencySummary;

/// One simulated rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// Requests per second of the Poisson stream.
    pub rate: f64,
    /// Every objective held (and some request was measured).
    pub pass: bool,
    pub latency: LatencySummary,
}

/// How a cell's search ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A passing rate with a failing one within the tolerance above it.
    Found,
    /// Even `max_rate` meets the SLOs: the capacity is at least that.
    AtLeastMax,
    /// `min_rate` already breaks them.
    BelowMin,
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Found => "found",
            Outcome::AtLeastMax => "at-least-max-rate",
            Outcome::BelowMin => "below-min-rate",
        }
    }
}

/// Every probe of a cell, in the order run, and how the search ended.
#[derive(Debug, Clone, PartialEq)]
pub struct CellSearch {
    pub probes: Vec<Probe>,
    pub outcome: Outcome,
}

impl CellSearch {
    /// The highest rate that met the SLOs.
    pub fn best(&self) -> Option<&Probe> {
        self.probes
            .iter()
            .filter(|p| p.pass)
            .max_by(|a, b| a.rate.total_cmp(&b.rate))
    }
    /// The lowest rate that broke them.
    pub fn first_fail(&self) -> Option<&Probe> {
        self.probes
            .iter()
            .filter(|p| !p.pass)
            .min_by(|a, b| a.rate.total_cmp(&b.rate))
    }
}

impl Slos {
    /// Whether a run's measured requests meet every objective.
    pub fn met(&self, l: &LatencySummary) -> bool {
        let ok = |o: &Option<super::spec::Objective>, d| {
            o.as_ref().is_none_or(|o| o.stat.of(d) <= o.limit_s)
        };
        l.measured > 0 && ok(&self.ttft, &l.ttft) && ok(&self.tpot, &l.tpot)
    }
}

/// The largest rate in `[min_rate, max_rate]` that `probe` finds passing: `min_rate`
/// first, then doubling until a rate fails (or `max_rate` passes), then halving the
/// bracket `(pass, fail)` until `fail - pass <= tolerance x pass`.
pub fn search<E>(
    s: &Search,
    mut probe: impl FnMut(f64) -> Result<Probe, E>,
) -> Result<CellSearch, E> {
    let mut probes = Vec::new();
    let mut run = |r: f64, probes: &mut Vec<Probe>| -> Result<bool, E> {
        let p = probe(r)?;
        let pass = p.pass;
        probes.push(p);
        Ok(pass)
    };
    if !run(s.min_rate, &mut probes)? {
        return Ok(CellSearch {
            probes,
            outcome: Outcome::BelowMin,
        });
    }
    let mut lo = s.min_rate;
    let mut hi = loop {
        if lo >= s.max_rate {
            return Ok(CellSearch {
                probes,
                outcome: Outcome::AtLeastMax,
            });
        }
        let next = (lo * 2.0).min(s.max_rate);
        if run(next, &mut probes)? {
            lo = next;
        } else {
            break next;
        }
    };
    while hi - lo > s.tolerance * lo {
        let mid = (lo + hi) / 2.0;
        if run(mid, &mut probes)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(CellSearch {
        probes,
        outcome: Outcome::Found,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell whose SLOs hold up to `cap` requests/s.
    fn fake(cap: f64) -> impl FnMut(f64) -> Result<Probe, ()> {
        move |rate| {
            Ok(Probe {
                rate,
                pass: rate <= cap,
                latency: LatencySummary::default(),
            })
        }
    }

    #[test]
    fn the_search_brackets_then_bisects_to_the_tolerance() {
        let s = Search::default();
        let c = search(&s, fake(5.3)).unwrap();
        assert_eq!(c.outcome, Outcome::Found);
        let (best, fail) = (c.best().unwrap().rate, c.first_fail().unwrap().rate);
        assert!(best <= 5.3 && fail > 5.3, "{best} {fail}");
        assert!(fail - best <= s.tolerance * best, "{best} {fail}");
        // 0.25, 0.5, 1, 2, 4, 8, then 5 halvings of (4, 8) down to 2% of 5.25.
        let rates: Vec<f64> = c.probes.iter().map(|p| p.rate).collect();
        assert_eq!(&rates[..6], &[0.25, 0.5, 1.0, 2.0, 4.0, 8.0]);
        assert!(c.probes.len() <= s.max_probes());
    }

    #[test]
    fn every_objective_must_hold_over_measured_requests() {
        use super::super::spec::{Objective, Stat};
        let o = |stat, limit_s| Objective {
            stat,
            limit_s,
            limit_text: String::new(),
        };
        let slo = Slos {
            ttft: Some(o(Stat::P99, 0.2)),
            tpot: Some(o(Stat::P50, 0.05)),
        };
        let mut l = LatencySummary::default();
        assert!(!slo.met(&l), "no measured request: not met");
        l.measured = 10;
        l.ttft.p99_s = 0.2;
        l.tpot.p50_s = 0.05;
        assert!(slo.met(&l), "at the limits: met");
        l.tpot.p50_s = 0.0501;
        assert!(!slo.met(&l));
        l.tpot.p50_s = 0.01;
        l.ttft.p99_s = 0.21;
        assert!(!slo.met(&l));
        l.ttft.mean_s = 9.0; // another statistic: not judged
        l.ttft.p99_s = 0.1;
        assert!(slo.met(&l));
    }

    #[test]
    fn the_search_reports_its_ends() {
        let s = Search {
            min_rate: 1.0,
            max_rate: 6.0,
            tolerance: 0.05,
        };
        let c = search(&s, fake(100.0)).unwrap();
        assert_eq!(c.outcome, Outcome::AtLeastMax);
        assert_eq!(c.best().unwrap().rate, 6.0);
        assert_eq!(c.probes.len(), 4); // 1, 2, 4, 6
        let c = search(&s, fake(0.5)).unwrap();
        assert_eq!((c.outcome, c.probes.len()), (Outcome::BelowMin, 1));
        assert!(c.best().is_none());
        let e: Result<CellSearch, &str> = search(&s, |_| Err("boom"));
        assert_eq!(e.unwrap_err(), "boom");
    }
}
