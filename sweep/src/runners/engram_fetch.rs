//! `engram-fetch`: the fetch-behind-compute bench ([`memwall_serve::fetch_bench`]) as a
//! sweep runner. This file parses and checks a cell's table, calls the bench, and turns
//! its timeline into metrics; it builds no simulation itself.
//!
//! ```toml
//! system = "hgx-h200"
//! steps = 16
//! gpus = 8                     # optional: the node's GPUs 0..gpus (default all)
//! [model]
//! layers = 8                   # Engram layers per step
//! compute_per_layer = "60 us"  # kernel time that can hide a fetch
//! [batch]
//! tokens = 64                  # tokens per GPU per step
//! [engram]
//! placement = "host-zero-copy" # any fetch tier: hbm, gpu-sharded, host-zero-copy
//!                              # (alias host-dram), host-dma, nvme, cxl
//! rows_per_token = 32          # rows each token reads per layer (heads x n-gram orders)
//! row_bytes = 264
//! prefetch_layers = 1
//! drives = 0                   # NVMe drives used (0: all of the node's)
//! ```

use crate::runner::{CategorySplit, CellOutput, CellRunner, CheckError, Metric};
use memwall_models::budget::Estimate;
use memwall_models::tiers::{known_names, TierConfig};
use memwall_models::{Registry, SystemSpec};
use memwall_reports::plots::{exposed_per_step_s, percentile};
use memwall_serve::fetch_bench::{FetchBench, FetchBenchRun};
use memwall_sim::Ps;
use serde::Deserialize;

/// One `engram-fetch` cell, as a sweep file writes it.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct FetchCell {
    pub system: String,
    pub steps: u32,
    #[serde(default)]
    pub gpus: Option<usize>,
    pub model: Model,
    pub batch: Batch,
    pub engram: Engram,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Model {
    pub layers: u32,
    pub compute_per_layer: String,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    pub tokens: u64,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Engram {
    /// A fetch tier's name (its fields at their defaults).
    pub placement: String,
    pub rows_per_token: u64,
    #[serde(default = "default_row")]
    pub row_bytes: u64,
    #[serde(default)]
    pub prefetch_layers: u32,
    #[serde(default)]
    pub drives: usize,
}

fn default_row() -> u64 {
    264
}

/// The runner; holds the profile registry it resolves systems from.
pub struct EngramFetch {
    registry: Registry,
    /// The digest of the data cells resolve against (`super::data_digest`).
    data: String,
}

impl EngramFetch {
    /// The runner over `registry`; `data` is the digest of the data it resolves against.
    pub fn new(registry: Registry, data: String) -> Self {
        EngramFetch { registry, data }
    }
}

fn system(reg: &Registry, sc: &FetchCell) -> Result<SystemSpec, CheckError> {
    reg.system(&sc.system).map_err(|e| {
        CheckError::at(
            "system",
            e.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

/// The range of each count of a cell (docs/sweeps.md, "engram-fetch"): wide enough for
/// any real model and node, narrow enough that nothing in range overflows.
const COUNT_LIMITS: [(&str, u64, u64); 6] = [
    ("steps", 1, 100_000),
    ("model.layers", 1, 1024),
    ("batch.tokens", 1, 1 << 20),
    ("engram.rows_per_token", 1, 4096),
    ("engram.row_bytes", 1, 1 << 20),
    (
        "engram.drives",
        0,
        memwall_models::tiers::nvme::MAX_DRIVES as u64,
    ),
];

/// Upper figures measured on one core (a 100-step, 64-layer, 8-GPU NVMe cell of 8192
/// rows per fetch: 65 MB, 152 s): bytes kept per fetch (its ops, flows and records) and
/// per row id of one fetch in flight, CPU time per fetch and per row read (NVMe pages go
/// through queue servers one by one).
const BYTES_PER_FETCH: f64 = 2048.0;
const BYTES_PER_ROW: f64 = 16.0;
const SECS_PER_FETCH: f64 = 20e-6;
const SECS_PER_ROW: f64 = 0.4e-6;

/// About how much memory and time one cell takes on `gpus` GPUs.
pub fn estimate(sc: &FetchCell, gpus: usize) -> Estimate {
    let fetches = sc.steps as f64 * sc.model.layers as f64 * gpus as f64;
    let rows_per_fetch = sc.batch.tokens as f64 * sc.engram.rows_per_token as f64;
    Estimate {
        bytes: 16 << 20,
        seconds: 0.0,
    }
    .plus(
        fetches,
        BYTES_PER_FETCH,
        SECS_PER_FETCH + rows_per_fetch * SECS_PER_ROW,
    )
    .plus(rows_per_fetch * gpus as f64, BYTES_PER_ROW, 0.0)
}

fn check_counts(sc: &FetchCell) -> Result<(), CheckError> {
    let values = [
        sc.steps as u64,
        sc.model.layers as u64,
        sc.batch.tokens,
        sc.engram.rows_per_token,
        sc.engram.row_bytes,
        sc.engram.drives as u64,
    ];
    for ((k, min, max), v) in COUNT_LIMITS.into_iter().zip(values) {
        if !(min..=max).contains(&v) {
            return Err(CheckError::at(
                k,
                format!("{k} = {v} is out of range: {min} to {max}"),
            ));
        }
    }
    if sc.batch.tokens * sc.engram.rows_per_token > u32::MAX as u64 {
        return Err(CheckError::at(
            "batch.tokens",
            "batch.tokens x engram.rows_per_token is too many rows per layer",
        ));
    }
    Ok(())
}

impl EngramFetch {
    fn parse(&self, t: &toml::Table) -> Result<FetchBench, CheckError> {
        let sc: FetchCell = serde_path_to_error::deserialize(toml::Value::Table(t.clone()))
            .map_err(|e| {
                // The path ends at the offending key (an unknown field included).
                let key = e.path().to_string();
                let inner = e.into_inner().to_string();
                let inner = inner.lines().next().unwrap_or("").trim().to_string();
                CheckError::at(key.clone(), format!("{key}: {inner}"))
            })?;
        let sys = system(&self.registry, &sc)?;
        let compute =
            memwall_models::units::parse_time_ps(&sc.model.compute_per_layer).map_err(|e| {
                CheckError::at(
                    "model.compute_per_layer",
                    format!("model.compute_per_layer: {e} (write e.g. \"60 us\")"),
                )
            })?;
        let n = sys.node.gpus.len();
        let gpus = sc.gpus.unwrap_or(n);
        if gpus == 0 || gpus > n {
            return Err(CheckError::at(
                "gpus",
                format!("gpus = {gpus}: {} has 1 to {n} GPUs per node", sc.system),
            ));
        }
        check_counts(&sc)?;
        estimate(&sc, gpus)
            .check(
                "this cell",
                false,
                "lower steps, model.layers, gpus or batch.tokens",
            )
            .map_err(|e| CheckError::at("model.layers", e.to_string()))?;
        let e = &sc.engram;
        let mut tier = TierConfig::by_name(&e.placement).ok_or_else(|| {
            CheckError::at(
                "engram.placement",
                format!(
                    "engram.placement = {:?}: not a fetch tier (one of {})",
                    e.placement,
                    known_names()
                ),
            )
        })?;
        // The bench reads NVMe with GPUDirect Storage (drive to GPU, no DRAM bounce).
        if let TierConfig::Nvme(c) = &mut tier {
            c.gpudirect = true;
        }
        let have = sys.node.drives.len();
        if e.drives > have && matches!(tier, TierConfig::Nvme(_)) {
            return Err(CheckError::at(
                "engram.drives",
                format!("engram.drives = {}: {} has {have}", e.drives, sc.system),
            ));
        }
        let bench = FetchBench {
            system: sys,
            gpus,
            steps: sc.steps,
            layers: sc.model.layers,
            compute_per_layer: Ps(compute),
            tokens: sc.batch.tokens,
            rows_per_token: e.rows_per_token,
            row_bytes: e.row_bytes,
            prefetch_layers: e.prefetch_layers,
            drives: e.drives,
            tier,
        };
        bench.check(&self.registry).map_err(|err| {
            let m = err.to_string().replace('\n', "; ");
            CheckError::at("engram.placement", format!("engram.placement: {m}"))
        })?;
        Ok(bench)
    }
}

impl CellRunner for EngramFetch {
    fn name(&self) -> &str {
        "engram-fetch"
    }
    fn version(&self) -> &str {
        // 2: fetches go through the tiers (`hbm` now counts the gather's reads and writes).
        "2"
    }
    fn data_digest(&self) -> &str {
        &self.data
    }
    fn check(&self, t: &toml::Table) -> Result<(), CheckError> {
        self.parse(t).map(|_| ())
    }
    fn run(&self, t: &toml::Table) -> Result<CellOutput, String> {
        let b = self.parse(t).map_err(|e| e.message)?;
        let r = b.run(&self.registry).map_err(|e| e.to_string())?;
        Ok(output(&b, &r))
    }
}

/// Metrics, per-category split and per-step stalls of a bench run (per GPU).
fn output(b: &FetchBench, r: &FetchBenchRun) -> CellOutput {
    let (tl, at) = (&r.timeline, &r.attribution);
    let end = tl.makespan();
    let steps = b.steps as usize;
    let g = b.gpus as f64;
    let secs = end.as_secs_f64();
    let tokens = b.gpus as u64 * b.tokens * steps as u64;
    let compute_only = b.compute_per_layer.0 as f64 * (steps * b.layers as usize) as f64;
    let mut per_step: Vec<f64> = exposed_per_step_s(at)
        .into_iter()
        .map(|(_, s)| s * 1e6 / g)
        .collect();
    per_step.resize(steps, 0.0);
    let mut sorted = per_step.clone();
    sorted.sort_by(f64::total_cmp);
    let bytes = b.rows() * b.row_bytes * b.layers as u64 * b.gpus as u64;
    let metrics = vec![
        Metric::new("throughput", "tokens/s", tokens as f64 / secs),
        Metric::new("step_time", "us", end.as_us_f64() / steps as f64),
        Metric::new(
            "throughput_penalty",
            "%",
            (end.0 as f64 - compute_only) / end.0 as f64 * 100.0,
        ),
        Metric::new("exposed_p50", "us", percentile(&sorted, 50.0)),
        Metric::new("exposed_p99", "us", percentile(&sorted, 99.0)),
        Metric::new(
            "exposed_mean",
            "us",
            sorted.iter().sum::<f64>() / steps as f64,
        ),
        Metric::new("engram_bytes_per_step", "B", bytes as f64),
        Metric::new("gpus", "count", g),
        Metric::new("nodes", "count", 1.0),
        Metric::new("sim_events", "count", r.events as f64),
    ];
    let categories = at
        .by_category(tl)
        .into_iter()
        .map(|(name, t)| CategorySplit {
            category: name,
            hidden_us: t.hidden.as_us_f64() / g,
            exposed_us: t.exposed.as_us_f64() / g,
        })
        .collect();
    CellOutput {
        metrics,
        categories,
        step_exposed_us: per_step,
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(placement: &str, prefetch: u32) -> toml::Table {
        format!(
            "system = \"hgx-h200\"\nsteps = 3\n[model]\nlayers = 3\ncompute_per_layer = \"60 us\"\n[batch]\ntokens = 4\n[engram]\nplacement = \"{placement}\"\nrows_per_token = 2\nprefetch_layers = {prefetch}\n"
        )
        .parse()
        .unwrap()
    }

    fn runner() -> EngramFetch {
        EngramFetch::new(Registry::embedded().unwrap(), String::new())
    }

    #[test]
    fn prefetch_hides_dram_fetches_and_nvme_is_slower() {
        let r = runner();
        let t = |p: &str, h: u32| {
            r.run(&scenario(p, h))
                .unwrap()
                .metric("throughput")
                .unwrap()
                .value
        };
        let (none, one, nvme, hbm) = (
            t("host-dram", 0),
            t("host-dram", 1),
            t("nvme", 1),
            t("hbm", 0),
        );
        assert!(one > none, "prefetch helps: {one} vs {none}");
        assert!(nvme < one, "NVMe is slower than DRAM: {nvme} vs {one}");
        assert!(
            hbm > none,
            "HBM beats an exposed DRAM fetch: {hbm} vs {none}"
        );
    }

    #[test]
    fn unknown_key_is_named_with_its_path() {
        let mut s = scenario("host-dram", 0);
        s["engram"]
            .as_table_mut()
            .unwrap()
            .insert("placment".into(), "x".into());
        let e = runner().check(&s).unwrap_err();
        assert_eq!(e.key.as_deref(), Some("engram.placment"), "{e:?}");
    }

    #[test]
    fn deterministic() {
        let r = runner();
        assert_eq!(r.run(&scenario("nvme", 1)), r.run(&scenario("nvme", 1)));
    }
}
