//! Memory per tier and tenant: the budget a deployment must fit (checked before anything
//! is simulated, refused with every term named), and the occupancy a run reports (peak and
//! time-weighted mean, one row per (tier, tenant), in summary.json). Tiers: each replica
//! GPU's HBM, each socket's host DRAM. Tenants: model weights, the KV cache, Engram (table
//! shard and HBM row cache in HBM; the table or a row cache in host DRAM), activations.
//! A new tenant (KV offload, ...) adds its rows with [`Occupancy::add_static`] or samples
//! them step by step with [`Occupancy::sample`]. docs/tiers.md.

use memwall_models::units::format_bytes;
use memwall_sim::Ps;

use super::error::{invalid, ScenarioError};

/// One (tier, tenant) over a run: its capacity, peak and time-weighted mean bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TierUse {
    /// `hbm` (per replica GPU, the busiest) or `host-dram.socketN`.
    pub tier: String,
    pub tenant: String,
    pub capacity_bytes: u64,
    pub peak_bytes: u64,
    pub mean_bytes: f64,
}

/// One term of a tier's budget: a tenant's bytes at their peak, and how they were counted.
#[derive(Debug, Clone)]
pub struct Term {
    pub tenant: &'static str,
    pub bytes: u64,
    pub how: String,
}

/// A tier's capacity and the terms it must hold at once.
#[derive(Debug, Clone)]
pub struct TierBudget {
    pub tier: String,
    pub capacity: u64,
    pub terms: Vec<Term>,
}

impl TierBudget {
    pub fn total(&self) -> u64 {
        self.terms
            .iter()
            .map(|t| t.bytes)
            .fold(0, u64::saturating_add)
    }

    /// Refuses a tier whose terms do not fit, naming each term.
    pub fn check(&self, origin: &str, hint: &str) -> Result<(), ScenarioError> {
        if self.total() <= self.capacity {
            return Ok(());
        }
        let terms: Vec<String> = self
            .terms
            .iter()
            .map(|t| format!("{} {} ({})", t.tenant, format_bytes(t.bytes), t.how))
            .collect();
        Err(invalid(
            origin,
            format!(
                "the deployment does not fit in {}: {} = {} > {} capacity\nhint: {hint}",
                self.tier,
                terms.join(" + "),
                format_bytes(self.total()),
                format_bytes(self.capacity)
            ),
        ))
    }
}

/// Occupancy over a run, sampled step by step.
#[derive(Debug, Clone, Default)]
pub struct Occupancy {
    rows: Vec<TierUse>,
    /// Per row: sum of bytes x picoseconds, and the picoseconds sampled.
    area: Vec<(u128, u64)>,
    /// Rows whose bytes hold for the whole run.
    fixed: Vec<bool>,
}

impl Occupancy {
    /// A tenant that holds `bytes` all run long.
    pub fn add_static(&mut self, tier: &str, tenant: &str, capacity: u64, bytes: u64) {
        self.push(tier, tenant, capacity, true);
        let r = self.rows.last_mut().expect("pushed");
        r.peak_bytes = bytes;
        r.mean_bytes = bytes as f64;
    }

    /// A tenant sampled step by step; its row index for [`Occupancy::sample`].
    pub fn add_sampled(&mut self, tier: &str, tenant: &str, capacity: u64) -> usize {
        self.push(tier, tenant, capacity, false);
        self.rows.len() - 1
    }

    fn push(&mut self, tier: &str, tenant: &str, capacity: u64, fixed: bool) {
        self.rows.push(TierUse {
            tier: tier.to_string(),
            tenant: tenant.to_string(),
            capacity_bytes: capacity,
            ..Default::default()
        });
        self.area.push((0, 0));
        self.fixed.push(fixed);
    }

    /// Row `i` held `bytes` for `dur`.
    pub fn sample(&mut self, i: usize, bytes: u64, dur: Ps) {
        let r = &mut self.rows[i];
        r.peak_bytes = r.peak_bytes.max(bytes);
        let a = &mut self.area[i];
        a.0 += u128::from(bytes) * u128::from(dur.0);
        a.1 += dur.0;
    }

    /// The rows, sampled ones' means over the time they were sampled.
    pub fn finish(mut self) -> Vec<TierUse> {
        for ((r, a), fixed) in self.rows.iter_mut().zip(&self.area).zip(&self.fixed) {
            if !fixed && a.1 > 0 {
                r.mean_bytes = a.0 as f64 / a.1 as f64;
            }
        }
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_over_capacity_names_every_term() {
        let b = TierBudget {
            tier: "HBM of each GPU".into(),
            capacity: 80_000_000_000,
            terms: vec![
                Term {
                    tenant: "weights",
                    bytes: 40_000_000_000,
                    how: "per GPU".into(),
                },
                Term {
                    tenant: "KV cache",
                    bytes: 45_000_000_000,
                    how: "kv_cache_tokens".into(),
                },
            ],
        };
        let e = b.check("s.toml", "lower it").unwrap_err().to_string();
        assert!(
            e.contains(
                "weights 40 GB (per GPU) + KV cache 45 GB (kv_cache_tokens) = 85 GB > 80 GB"
            ),
            "{e}"
        );
        let mut ok = b.clone();
        ok.terms.pop();
        assert!(ok.check("s.toml", "").is_ok());
    }

    #[test]
    fn occupancy_is_time_weighted() {
        let mut o = Occupancy::default();
        o.add_static("hbm", "weights", 100, 40);
        let kv = o.add_sampled("hbm", "kv", 100);
        o.sample(kv, 10, Ps(3));
        o.sample(kv, 30, Ps(1));
        let r = o.finish();
        assert_eq!((r[0].peak_bytes, r[0].mean_bytes), (40, 40.0));
        assert_eq!((r[1].peak_bytes, r[1].mean_bytes), (30, 15.0));
    }
}
