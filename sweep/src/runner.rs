//! What runs one cell: any simulation that turns a scenario into named metrics with
//! units. The sweep engine knows nothing else about it.

use serde::{Deserialize, Serialize};

/// One measured quantity of a cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// Snake-case name without the unit (`throughput`, `exposed_p99`).
    pub name: String,
    /// Unit as written (`tokens/s`, `us`, `%`, `B`, `count`).
    pub unit: String,
    /// Stored in cell files as its shortest round-trip decimal, so a resumed or merged
    /// sweep reads back exactly the value it computed.
    #[serde(with = "exact_f64")]
    pub value: f64,
}

impl Metric {
    pub fn new(name: impl Into<String>, unit: impl Into<String>, value: f64) -> Self {
        Metric {
            name: name.into(),
            unit: unit.into(),
            value,
        }
    }
}

/// Latency of one op category over a cell's run, split as DESIGN.md §3 defines (summarised in docs/sources.md; implemented in
/// `memwall_sim::attribute`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CategorySplit {
    pub category: String,
    #[serde(with = "exact_f64")]
    pub hidden_us: f64,
    #[serde(with = "exact_f64")]
    pub exposed_us: f64,
}

/// What a cell produced.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
pub struct CellOutput {
    pub metrics: Vec<Metric>,
    /// Hidden and exposed latency per op category.
    #[serde(default)]
    pub categories: Vec<CategorySplit>,
    /// Exposed latency of each step, microseconds (for the CDF plot).
    #[serde(default, with = "exact_f64_vec")]
    pub step_exposed_us: Vec<f64>,
}

impl CellOutput {
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// A scenario that cannot run, found before anything runs: `key` is the dotted key path
/// at fault (mapped back to a line of the sweep file), when there is one.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckError {
    pub key: Option<String>,
    pub message: String,
}

impl CheckError {
    pub fn at(key: impl Into<String>, message: impl Into<String>) -> Self {
        CheckError {
            key: Some(key.into()),
            message: message.into(),
        }
    }
}

/// Runs one scenario. Must be deterministic: the same scenario gives the same output
/// whatever thread runs it.
pub trait CellRunner: Sync {
    /// Name used in sweep files (`runner = "..."`).
    fn name(&self) -> &str;
    /// Changes whenever the same scenario would give different results; part of every
    /// cell's key, so stale results are never reused.
    fn version(&self) -> &str;
    /// A digest of the data the runner resolves cells against beyond the cell's own table
    /// (shipped and user profiles, models, engine profiles); part of every cell's key, so
    /// a result computed under other data is never reused. "" for a runner that reads none.
    fn data_digest(&self) -> &str {
        ""
    }
    /// Check a scenario without running it (unknown keys, bad values, missing parts).
    fn check(&self, scenario: &toml::Table) -> Result<(), CheckError>;
    /// Run it.
    fn run(&self, scenario: &toml::Table) -> Result<CellOutput, String>;
}

mod exact_f64 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:?}"))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

mod exact_f64_vec {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| format!("{x:?}")))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        let v = Vec::<String>::deserialize(d)?;
        v.iter()
            .map(|s| s.parse().map_err(serde::de::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_exactly() {
        let o = CellOutput {
            metrics: vec![Metric::new("x", "us", 0.1 + 0.2)],
            categories: vec![],
            step_exposed_us: vec![1.0 / 3.0, 2e-300],
        };
        let j = serde_json::to_string(&o).unwrap();
        let back: CellOutput = serde_json::from_str(&j).unwrap();
        assert_eq!(back, o);
    }
}
