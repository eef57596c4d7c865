//! Price, power and rack space per system, and what they buy: tokens/s per dollar and
//! per watt, and the Pareto frontier of throughput against cost among the cells whose
//! exposed latency stays under the user's limit.
//!
//! memwall ships no prices (the hardware research behind docs/sources.md has none). A
//! system's `[economics]` table gives them with their provenance, and a user economics
//! file overrides them per system without copying the whole profile (see
//! `examples/economics/prices.toml`):
//!
//! ```toml
//! [hgx-h200]
//! purchase = { value = "$310000", basis = "user", source = "our 2025 quote" }
//! hourly = { value = "$24/h", basis = "user", source = "cloud list price" }
//! power = { value = "10.2 kW", basis = "user", source = "facility meter" }
//! ```

use crate::plan::{Cell, Plan};
use crate::runner::{CellOutput, Metric};
use crate::spec::{line_of, CostBasis, SweepError};
use memwall_models::quantity::Tagged;
use memwall_models::schema::EconomicsProfile;
use memwall_models::Registry;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// One figure with where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sourced {
    #[serde(with = "crate::economics::exact")]
    pub value: f64,
    /// `"user: our quote (override prices.toml)"`, `"derived: hardware.md §2 (profile)"`.
    pub source: String,
}

/// A system's economics per node, resolved.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct SystemEconomics {
    pub purchase_usd: Option<Sourced>,
    pub hourly_usd: Option<Sourced>,
    pub power_w: Option<Sourced>,
    pub rack_units: Option<Sourced>,
}

mod exact {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:?}"))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

fn sourced<Q>(t: &Tagged<Q>, value: f64, origin: &str) -> Sourced {
    let mut source = format!("{}: {} ({origin})", t.basis, t.source);
    if let Some(n) = &t.note {
        source.push_str(&format!("; {n}"));
    }
    Sourced { value, source }
}

/// `over` fields replace `base` fields one by one.
fn resolve(
    base: Option<&EconomicsProfile>,
    over: Option<&EconomicsProfile>,
    system: &str,
    over_file: &str,
) -> SystemEconomics {
    let mut e = SystemEconomics::default();
    for (p, origin) in [
        (base, format!("profile {system}")),
        (over, format!("override {over_file}")),
    ] {
        let Some(p) = p else { continue };
        if let Some(t) = &p.purchase {
            e.purchase_usd = Some(sourced(t, t.value.0 as f64 / 1e6, &origin));
        }
        if let Some(t) = &p.hourly {
            e.hourly_usd = Some(sourced(t, t.value.0 as f64 / 1e6, &origin));
        }
        if let Some(t) = &p.power {
            e.power_w = Some(sourced(t, t.value.0 as f64 / 1e3, &origin));
        }
        if let Some(t) = &p.rack_units {
            e.rack_units = Some(sourced(t, t.value.0 as f64, &origin));
        }
    }
    e
}

/// A user economics file: one table per system name.
pub fn load_overrides(
    path: &Path,
    reg: &Registry,
) -> Result<BTreeMap<String, EconomicsProfile>, SweepError> {
    let text = memwall_io::input::read_to_string_capped(path)
        .map_err(|e| SweepError::new(path, None, format!("cannot read economics file: {e}")))?;
    let m: BTreeMap<String, EconomicsProfile> = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| line_of(&text, s.start));
        SweepError::new(
            path,
            line,
            memwall_io::input::toml_message(e.message(), &text, e.span().map(|s| s.start)),
        )
    })?;
    for name in m.keys() {
        if reg.system(name).is_err() {
            let line = text
                .lines()
                .position(|l| {
                    l.trim() == format!("[{name}]") || l.trim() == format!("[\"{name}\"]")
                })
                .map(|i| i + 1);
            let known = reg.names_of(memwall_models::PartKind::System).join(", ");
            return Err(SweepError::new(
                path,
                line,
                format!("system {name:?} does not exist; systems: {known}"),
            ));
        }
    }
    Ok(m)
}

/// Economics of each named system, from its profile with `overrides` over it.
pub fn resolve_all<'a>(
    reg: &Registry,
    systems: impl IntoIterator<Item = &'a str>,
    overrides: &BTreeMap<String, EconomicsProfile>,
    over_file: &str,
) -> BTreeMap<String, SystemEconomics> {
    let mut out = BTreeMap::new();
    for s in systems {
        if out.contains_key(s) {
            continue;
        }
        let base = reg.get(s).and_then(|e| match &e.profile {
            memwall_models::Profile::System(p) => p.economics.clone(),
            _ => None,
        });
        out.insert(
            s.to_string(),
            resolve(base.as_ref(), overrides.get(s), s, over_file),
        );
    }
    out
}

/// Cost of a cell in the plan's cost basis: (value, unit), when the price is known.
pub fn cell_cost(plan: &Plan, cell: &Cell, out: &CellOutput) -> Option<(f64, &'static str)> {
    let e = plan.economics.get(cell.system.as_deref()?)?;
    let nodes = out.metric("nodes").map_or(1.0, |m| m.value);
    match plan.report.cost {
        CostBasis::Hourly => e.hourly_usd.as_ref().map(|s| (s.value * nodes, "USD/h")),
        CostBasis::Purchase => e.purchase_usd.as_ref().map(|s| (s.value * nodes, "USD")),
    }
}

/// Metrics derived from a cell's output and its system's economics (all per the nodes
/// the cell used): cost, power, rack units, tokens/s per dollar and per watt.
pub fn derived_metrics(plan: &Plan, cell: &Cell, out: &CellOutput) -> Vec<Metric> {
    let mut m = Vec::new();
    let Some(e) = cell.system.as_deref().and_then(|s| plan.economics.get(s)) else {
        return m;
    };
    let nodes = out.metric("nodes").map_or(1.0, |m| m.value);
    let tput = out.metric(&plan.report.throughput).map(|m| m.value);
    if let Some(p) = &e.purchase_usd {
        m.push(Metric::new("purchase_cost", "USD", p.value * nodes));
        if let Some(t) = tput {
            m.push(Metric::new(
                "throughput_per_purchase_usd",
                "tokens/s/USD",
                t / (p.value * nodes),
            ));
        }
    }
    if let Some(h) = &e.hourly_usd {
        m.push(Metric::new("hourly_cost", "USD/h", h.value * nodes));
        if let Some(t) = tput {
            m.push(Metric::new(
                "tokens_per_usd",
                "tokens/USD",
                t * 3600.0 / (h.value * nodes),
            ));
        }
    }
    if let Some(w) = &e.power_w {
        m.push(Metric::new("power", "W", w.value * nodes));
        if let Some(t) = tput {
            m.push(Metric::new(
                "throughput_per_watt",
                "tokens/s/W",
                t / (w.value * nodes),
            ));
        }
    }
    if let Some(r) = &e.rack_units {
        m.push(Metric::new("rack_units", "RU", r.value * nodes));
    }
    m
}

/// Whether the cell's exposed metric is within the plan's limit (true when no limit).
pub fn within_limit(plan: &Plan, out: &CellOutput) -> bool {
    match plan.report.exposed_limit_us {
        None => true,
        Some(lim) => out
            .metric(&plan.report.exposed)
            .is_some_and(|m| m.value <= lim),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_replaces_fields_one_by_one() {
        let base: EconomicsProfile = toml::from_str(
            "power = { value = \"7.5 kW\", basis = \"derived\", source = \"hardware.md §2\" }",
        )
        .unwrap();
        let over: EconomicsProfile =
            toml::from_str("hourly = { value = \"$30/h\", basis = \"user\", source = \"quote\" }")
                .unwrap();
        let e = resolve(Some(&base), Some(&over), "gb300-nvl72", "p.toml");
        assert_eq!(e.power_w.as_ref().unwrap().value, 7500.0);
        assert_eq!(e.hourly_usd.as_ref().unwrap().value, 30.0);
        assert!(e
            .hourly_usd
            .unwrap()
            .source
            .starts_with("user: quote (override p.toml)"));
        assert!(e.purchase_usd.is_none());
    }
}
