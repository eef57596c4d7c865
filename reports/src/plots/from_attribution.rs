//! Plot inputs built from an [`Attribution`], so a caller with a simulated run does not
//! re-derive them. (Sweeps and Pareto plots span several runs; their callers assemble
//! those.)

use memwall_sim::attribution::Attribution;
use std::collections::BTreeMap;

/// Exposed seconds per step (the sum over the step's ops of the stall each caused), in
/// step order; input for a [`super::Cdf`] series.
pub fn exposed_per_step_s(at: &Attribution) -> Vec<(u32, f64)> {
    let mut m: BTreeMap<u32, u64> = BTreeMap::new();
    for o in &at.ops {
        *m.entry(o.step).or_default() += o.exposed.0;
    }
    m.into_iter()
        .map(|(s, ps)| (s, memwall_sim::Ps(ps).as_secs_f64()))
        .collect()
}
