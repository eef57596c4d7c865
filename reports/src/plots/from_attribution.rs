//! Plot inputs built from an [`Attribution`], so a caller with a simulated run does not
//! re-derive them. (Sweeps and Pareto plots span several runs; their callers assemble
//! those.)

use super::{BarGroup, BarSegment, HeatMap};
use memwall_sim::attribution::Attribution;
use memwall_sim::Timeline;
use std::collections::{BTreeMap, BTreeSet};

/// One bar group (e.g. one system) of hidden/exposed seconds per category.
pub fn bar_group(label: &str, at: &Attribution, tl: &Timeline) -> BarGroup {
    BarGroup {
        label: label.to_string(),
        segments: at
            .by_category(tl)
            .into_iter()
            .map(|(category, t)| BarSegment {
                category,
                hidden_s: t.hidden.as_secs_f64(),
                exposed_s: t.exposed.as_secs_f64(),
            })
            .collect(),
    }
}

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

/// Exposed microseconds per layer (rows) and step (columns), for ops of `category` or of
/// every category when `None`. Layers and steps that have no ops at all are left out.
pub fn exposed_heatmap(
    title: &str,
    at: &Attribution,
    tl: &Timeline,
    category: Option<&str>,
) -> HeatMap {
    let mut cells: BTreeMap<(u32, u32), u64> = BTreeMap::new();
    let mut layers = BTreeSet::new();
    let mut steps = BTreeSet::new();
    for o in &at.ops {
        if category.is_some_and(|c| tl.category(o.category).name != c) {
            continue;
        }
        layers.insert(o.layer);
        steps.insert(o.step);
        *cells.entry((o.layer, o.step)).or_default() += o.exposed.0;
    }
    let layers: Vec<u32> = layers.into_iter().collect();
    let steps: Vec<u32> = steps.into_iter().collect();
    HeatMap {
        title: title.to_string(),
        row_axis: "layer".into(),
        col_axis: "step".into(),
        rows: layers.iter().map(|l| l.to_string()).collect(),
        cols: steps.iter().map(|s| s.to_string()).collect(),
        value_name: match category {
            Some(c) => format!("exposed {c}"),
            None => "exposed".into(),
        },
        values_us: layers
            .iter()
            .map(|l| {
                steps
                    .iter()
                    .map(|s| cells.get(&(*l, *s)).copied().unwrap_or(0) as f64 / 1e6)
                    .collect()
            })
            .collect(),
    }
}
