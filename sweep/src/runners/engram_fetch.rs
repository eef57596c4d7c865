//! `engram-fetch`: a small real simulation to sweep before (and beside) the full serving
//! scenario: every GPU of a node runs `layers` compute kernels per decode step, and
//! before each one it needs that layer's Engram rows, fetched from host DRAM (zero-copy
//! gather), from NVMe (4 KiB page reads, then GPUDirect to the GPU) or from HBM. Fetches
//! are issued `prefetch_layers` layers ahead, never across a step (the next step's
//! tokens are not known before the step ends). All GPUs contend for DRAM, switch
//! uplinks and drives on the wired node; the timeline is attributed (DESIGN.md §3).
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
//! placement = "host-dram"      # host-dram | nvme | hbm
//! rows_per_token = 32          # rows each token reads per layer (heads x n-gram orders)
//! row_bytes = 264
//! prefetch_layers = 1
//! drives = 0                   # NVMe drives used (0: all of the node's)
//! ```

use crate::runner::{CategorySplit, CellOutput, CellRunner, CheckError, Metric};
use memwall_models::gather::{gather_wire_bytes, zero_copy_gather};
use memwall_models::node::NodeModel;
use memwall_models::{Registry, SystemSpec};
use memwall_sim::attribute;
use memwall_reports::plots::{exposed_per_step_s, percentile};
use memwall_sim::{Executor, FlowNet, FlowSpec, OpId, OpKind, OpSpec, Ps, Work};
use serde::Deserialize;

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
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

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Placement {
    HostDram,
    Nvme,
    Hbm,
}

#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Engram {
    pub placement: Placement,
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
    pub registry: Registry,
}

struct Checked {
    sc: Scenario,
    sys: SystemSpec,
    compute_ps: u64,
    gpus: usize,
    drives: usize,
}

impl EngramFetch {
    fn parse(&self, t: &toml::Table) -> Result<Checked, CheckError> {
        let sc: Scenario = serde_path_to_error::deserialize(toml::Value::Table(t.clone()))
            .map_err(|e| {
                // The path ends at the offending key (an unknown field included).
                let key = e.path().to_string();
                let inner = e.into_inner().to_string();
                let inner = inner.lines().next().unwrap_or("").trim().to_string();
                CheckError::at(key.clone(), format!("{key}: {inner}"))
            })?;
        let sys = self.registry.system(&sc.system).map_err(|e| {
            CheckError::at(
                "system",
                e.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let compute_ps = memwall_models::units::parse_time_ps(&sc.model.compute_per_layer)
            .map_err(|e| {
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
        for (k, v) in [
            ("steps", sc.steps as u64),
            ("model.layers", sc.model.layers as u64),
            ("batch.tokens", sc.batch.tokens),
            ("engram.rows_per_token", sc.engram.rows_per_token),
            ("engram.row_bytes", sc.engram.row_bytes),
        ] {
            if v == 0 {
                return Err(CheckError::at(k, format!("{k} must be at least 1")));
            }
        }
        let rows = sc.batch.tokens * sc.engram.rows_per_token;
        if rows > u32::MAX as u64 {
            return Err(CheckError::at(
                "batch.tokens",
                "batch.tokens x engram.rows_per_token is too many rows per layer",
            ));
        }
        let have = sys.node.drives.len();
        let drives = if sc.engram.drives == 0 {
            have
        } else {
            sc.engram.drives
        };
        if sc.engram.placement == Placement::Nvme {
            if have == 0 {
                return Err(CheckError::at(
                    "engram.placement",
                    format!(
                        "engram.placement = \"nvme\" but {} has no NVMe drives: pick a system with drives",
                        sc.system
                    ),
                ));
            }
            if drives > have {
                return Err(CheckError::at(
                    "engram.drives",
                    format!("engram.drives = {drives}: {} has {have}", sc.system),
                ));
            }
        }
        Ok(Checked {
            sc,
            sys,
            compute_ps,
            gpus,
            drives,
        })
    }
}

impl CellRunner for EngramFetch {
    fn name(&self) -> &str {
        "engram-fetch"
    }
    fn version(&self) -> &str {
        "1"
    }
    fn check(&self, t: &toml::Table) -> Result<(), CheckError> {
        self.parse(t).map(|_| ())
    }
    fn run(&self, t: &toml::Table) -> Result<CellOutput, String> {
        let c = self.parse(t).map_err(|e| e.message)?;
        simulate(&c).map_err(|e| e.to_string())
    }
}

fn simulate(c: &Checked) -> Result<CellOutput, Box<dyn std::error::Error>> {
    let sc = &c.sc;
    let mut ex = Executor::new(FlowNet::new());
    let node = NodeModel::build(&c.sys.node, &mut ex, "")?;
    let compute = ex.category("compute", OpKind::Compute);
    let fetch = ex.category("engram-fetch", OpKind::Memory);
    let read = ex.category("engram-nvme-read", OpKind::Storage);
    let layers = sc.model.layers as usize;
    let steps = sc.steps as usize;
    let p = sc.engram.prefetch_layers as usize;
    let rows = sc.batch.tokens * sc.engram.rows_per_token;
    let row = sc.engram.row_bytes;
    let page = c
        .sys
        .node
        .drive
        .as_ref()
        .map_or(4096, |d| d.page_size_bytes);
    let mut streams = Vec::new();
    for g in 0..c.gpus {
        streams.push((
            ex.add_stream(format!("gpu{g}"), true, true),
            ex.add_stream(format!("gpu{g}.engram"), false, false),
        ));
    }
    // Compute ops so far, per GPU, in order (step-major).
    let mut done: Vec<Vec<OpId>> = vec![Vec::with_capacity(steps * layers); c.gpus];
    for s in 0..steps {
        for l in 0..layers {
            let k = s * layers + l;
            for (g, &(cs, fs)) in streams.iter().enumerate() {
                // Issued when compute k-p starts: after op k-p-1, never before the step.
                let trig = (k as isize - p as isize - 1).max(s as isize * layers as isize - 1);
                let deps: Vec<OpId> = if trig >= 0 {
                    vec![done[g][trig as usize]]
                } else {
                    vec![]
                };
                let gpu_socket = c.sys.node.gpus[g].socket;
                let ready = match sc.engram.placement {
                    Placement::HostDram => {
                        let w = zero_copy_gather(&node, gpu_socket, g, row, rows)?;
                        ex.add_op(
                            OpSpec::new(fs, fetch, w.work)
                                .after(deps)
                                .at(s as u32, l as u32),
                        )?
                    }
                    Placement::Hbm => {
                        let w = Work::Transfer {
                            latency: Ps(c.sys.node.gpu.kernel_launch_ps),
                            flows: vec![FlowSpec {
                                path: vec![node.hbm(g)?],
                                bytes: gather_wire_bytes(row, rows),
                                rate_cap: None,
                            }],
                        };
                        ex.add_op(OpSpec::new(fs, fetch, w).after(deps).at(s as u32, l as u32))?
                    }
                    Placement::Nvme => {
                        let d = g % c.drives;
                        let r = ex.add_op(
                            OpSpec::new(
                                fs,
                                read,
                                Work::Storage {
                                    server: node.drive_server[d],
                                    requests: rows as u32,
                                    bytes_per_request: page,
                                },
                            )
                            .after(deps)
                            .at(s as u32, l as u32),
                        )?;
                        let path = node.drive_to_gpu(d, g)?;
                        ex.add_op(
                            OpSpec::new(fs, fetch, path.transfer(rows * page))
                                .after([r])
                                .at(s as u32, l as u32),
                        )?
                    }
                };
                let op = ex.add_op(
                    OpSpec::new(cs, compute, Work::Delay(Ps(c.compute_ps)))
                        .after([ready])
                        .at(s as u32, l as u32),
                )?;
                done[g].push(op);
            }
        }
    }
    ex.run()?;
    let events = ex.events_processed();
    let tl = ex.into_timeline();
    let end = tl.makespan();
    let at = attribute(&tl, (Ps::ZERO, end));
    let g = c.gpus as f64;
    let secs = end.as_secs_f64();
    let tokens = c.gpus as u64 * sc.batch.tokens * steps as u64;
    let compute_only = c.compute_ps as f64 * (steps * layers) as f64;
    let mut per_step: Vec<f64> = exposed_per_step_s(&at)
        .into_iter()
        .map(|(_, s)| s * 1e6 / g)
        .collect();
    per_step.resize(steps, 0.0);
    let mut sorted = per_step.clone();
    sorted.sort_by(f64::total_cmp);
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
        Metric::new(
            "engram_bytes_per_step",
            "B",
            (rows * row * layers as u64 * c.gpus as u64) as f64,
        ),
        Metric::new("gpus", "count", g),
        Metric::new("nodes", "count", 1.0),
        Metric::new("sim_events", "count", events as f64),
    ];
    let categories = at
        .by_category(&tl)
        .into_iter()
        .map(|(name, t)| CategorySplit {
            category: name,
            hidden_us: t.hidden.as_us_f64() / g,
            exposed_us: t.exposed.as_us_f64() / g,
        })
        .collect();
    Ok(CellOutput {
        metrics,
        categories,
        step_exposed_us: per_step,
    })
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
        EngramFetch {
            registry: Registry::embedded().unwrap(),
        }
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
