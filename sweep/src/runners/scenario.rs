//! `runner = "scenario"`: each cell is a `memwall run` serving scenario
//! (`memwall_serve::run_scenario_with`), the same TOML as scenarios/*.toml.

use crate::runner::{CategorySplit, CellOutput, CellRunner, CheckError, Metric};
use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_serve::{run_scenario_with, RunOptions as ServeOptions, Scenario};

/// The runner: hardware and models to resolve cells against.
pub struct ServingScenario {
    registry: Registry,
    models: ModelRegistry,
    /// The digest of the data cells resolve against (`super::data_digest`).
    data: String,
}

impl ServingScenario {
    pub fn new(registry: Registry, models: ModelRegistry, data: String) -> Self {
        ServingScenario {
            registry,
            models,
            data,
        }
    }
}

impl ServingScenario {
    fn parse(&self, t: &toml::Table) -> Result<Scenario, CheckError> {
        let text = toml::to_string(t).map_err(|e| CheckError {
            key: None,
            message: e.to_string(),
        })?;
        Scenario::from_toml_str("<cell>", &text).map_err(|e| {
            let m = e.to_string();
            // serde names the offending key in backticks: map it back to a sweep line.
            let key = m.split('`').nth(1).map(str::to_string);
            CheckError {
                key,
                message: m.lines().next().unwrap_or("").to_string(),
            }
        })
    }
}

impl CellRunner for ServingScenario {
    fn name(&self) -> &str {
        "scenario"
    }
    fn version(&self) -> &str {
        "serving-2"
    }
    fn data_digest(&self) -> &str {
        &self.data
    }
    fn check(&self, t: &toml::Table) -> Result<(), CheckError> {
        self.parse(t).map(|_| ())
    }
    fn run(&self, t: &toml::Table) -> Result<CellOutput, String> {
        let s = self.parse(t).map_err(|e| e.message)?;
        let opt = ServeOptions { step_rows: false };
        let r =
            run_scenario_with(&s, &self.registry, &self.models, opt).map_err(|e| e.to_string())?;
        let w = &r.with_engram;
        let us = |p: memwall_sim::Ps| p.as_us_f64();
        let mut m = vec![
            Metric::new("throughput", "tokens/s", w.tokens_per_s),
            Metric::new("exposed_p50", "us", us(w.step_exposed_p50)),
            Metric::new("exposed_p99", "us", us(w.step_exposed_p99)),
            Metric::new("makespan", "us", us(w.makespan)),
            Metric::new("steps", "count", w.steps as f64),
            Metric::new("output_tokens", "count", w.output_tokens as f64),
            Metric::new("busy", "us", us(w.busy)),
            Metric::new("bubble", "us", us(w.bubble)),
            Metric::new("nvme_pages", "count", w.nvme_pages as f64),
            Metric::new("nodes", "count", 1.0),
        ];
        m.extend(latency_metrics(&w.latency));
        if let Some(b) = &r.without_engram {
            m.push(Metric::new(
                "throughput_without_engram",
                "tokens/s",
                b.tokens_per_s,
            ));
        }
        if let Some(p) = r.penalty {
            m.push(Metric::new("throughput_penalty", "%", p * 100.0));
        }
        if let Some(h) = w.hbm_cache_hit_rate {
            m.push(Metric::new("hbm_cache_hit_rate", "%", h * 100.0));
        }
        if let Some(h) = w.dram_cache_hit_rate {
            m.push(Metric::new("dram_cache_hit_rate", "%", h * 100.0));
        }
        if let Some(k) = &w.kv {
            m.extend(kv_metrics(k));
        }
        let categories = w
            .by_category
            .iter()
            .map(|(c, t)| CategorySplit {
                category: c.clone(),
                hidden_us: us(t.hidden),
                exposed_us: us(t.exposed),
            })
            .collect();
        Ok(CellOutput {
            metrics: m,
            categories,
            step_exposed_us: Vec::new(),
        })
    }
}

/// With `[kv_cache]`: the prefix hit rate, and per tenant its host-DRAM bandwidth
/// (summed over sockets) and its transfers' exposed time.
fn kv_metrics(k: &memwall_serve::kv::KvStats) -> Vec<Metric> {
    let mut m = vec![Metric::new("kv_hit_rate", "%", k.hit_rate() * 100.0)];
    for t in &k.tenants {
        let dram: f64 = t
            .resources
            .iter()
            .filter(|r| r.0.ends_with(".dram"))
            .map(|r| r.2)
            .sum();
        m.push(Metric::new(
            format!("dram_gbps_{}", t.tenant),
            "GB/s",
            dram / 1e9,
        ));
        m.push(Metric::new(
            format!("exposed_{}", t.tenant),
            "us",
            t.exposed.as_us_f64(),
        ));
    }
    m
}

/// Request latency of the measured requests (queue, TTFT, TPOT, end-to-end) and the
/// output tokens per second of their window: what a latency-throughput curve plots.
fn latency_metrics(l: &memwall_serve::metrics::LatencySummary) -> Vec<Metric> {
    let ms = |s: f64| s * 1e3;
    vec![
        Metric::new("output_throughput", "tokens/s", l.output_throughput),
        Metric::new("queue_mean", "ms", ms(l.queue.mean_s)),
        Metric::new("ttft_mean", "ms", ms(l.ttft.mean_s)),
        Metric::new("ttft_p50", "ms", ms(l.ttft.p50_s)),
        Metric::new("ttft_p99", "ms", ms(l.ttft.p99_s)),
        Metric::new("tpot_mean", "ms", ms(l.tpot.mean_s)),
        Metric::new("tpot_p50", "ms", ms(l.tpot.p50_s)),
        Metric::new("tpot_p99", "ms", ms(l.tpot.p99_s)),
        Metric::new("e2e_mean", "ms", ms(l.e2e.mean_s)),
    ]
}
