//! `run_scenario`: serves a scenario on its system (the step loop is [`crate::sim`]) and,
//! when asked, the same without Engram, for the throughput penalty.

use memwall_llm::{ModelConfig, ModelRegistry};
use memwall_models::Registry;
use memwall_sim::attribution::CategoryTotals;
use memwall_sim::Ps;

use super::error::ScenarioError;
use super::metrics::{LatencySummary, RequestRecord, Slo, Window};
use super::requests::Clients;
use super::scenario::{Scenario, WorkloadSpec};
use super::sim::{Load, ServeSim, SimOutput};

/// Per Engram layer totals over a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerStats {
    pub layer: u32,
    pub fetches: u64,
    pub rows: u64,
    pub bytes: u64,
    /// Sum over steps of the slowest GPU's fetch latency, exposed and hidden.
    pub latency: Ps,
    pub exposed: Ps,
    pub hidden: Ps,
    /// Smallest slack seen (negative: the data arrived late), picoseconds.
    pub min_slack_ps: i64,
    pub steps_exposed: u64,
}

/// What one simulated run (with or without Engram) gives.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    pub engram: bool,
    pub makespan: Ps,
    pub steps: u64,
    pub prefill_steps: u64,
    pub output_tokens: u64,
    pub prompt_tokens: u64,
    pub requests: u64,
    pub preemptions: u64,
    /// Output tokens per second of wall time, prefill included (nano-vLLM bench.py).
    pub tokens_per_s: f64,
    /// Summed over the replicas' compute streams.
    pub busy: Ps,
    pub bubble: Ps,
    pub exposed_by_category: Vec<(String, Ps)>,
    /// Per op category: ops, bytes, latency, exposed, hidden (reports::CategoryTotals).
    pub by_category: Vec<(String, CategoryTotals)>,
    pub layers: Vec<LayerStats>,
    /// Per step, the worst GPU's Engram stall: p50 and p99.
    pub step_exposed_p50: Ps,
    pub step_exposed_p99: Ps,
    pub hbm_cache_hit_rate: Option<f64>,
    pub dram_cache_hit_rate: Option<f64>,
    pub nvme_pages: u64,
    /// Per-request latency: queue, TTFT, TPOT, inter-token, end-to-end, goodput.
    pub latency: LatencySummary,
    /// Prefix caching, KV tiers and every tenant's use of the node, with `[kv_cache]`.
    pub kv: Option<crate::kv::KvStats>,
    /// A trace replay (`[workload] kind = "engram-trace"`): what the run consumed.
    pub replay: Option<crate::mwet::TraceDigest>,
    /// Peak and mean bytes per (memory tier, tenant) (`crate::budget`).
    pub memory: Vec<crate::budget::TierUse>,
    /// Disaggregated prefill and decode: the KV transfers and their exposure.
    pub disagg: Option<crate::disagg::DisaggStats>,
}

/// A scenario's answer.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub scenario: String,
    pub seed: u64,
    pub system: String,
    pub model: String,
    pub placement: Option<String>,
    pub with_engram: RunStats,
    pub without_engram: Option<RunStats>,
    /// 1 - tokens/s with Engram / tokens/s without (a fraction).
    pub penalty: Option<f64>,
    /// Tidy per step x Engram layer rows (see `STEP_CSV_HEADER`), when asked for.
    pub step_rows: Vec<StepRow>,
    /// Every request of the run with Engram, in issue order.
    pub requests: Vec<RequestRecord>,
    /// The node's batch and KV-cache use per step, when step rows are asked for.
    pub batches: Vec<BatchRow>,
}

/// One step of the node: its batch (all replicas) and KV-cache use at its start.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRow {
    pub step: u64,
    pub start: Ps,
    pub duration: Ps,
    pub prefill: bool,
    /// Tokens computed, sequences in the batch, requests waiting.
    pub tokens: u64,
    pub seqs: u64,
    pub waiting: u64,
    /// KV-cache tokens held and the capacity, summed over replicas.
    pub kv_used: u64,
    pub kv_capacity: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepRow {
    pub step: u64,
    pub prefill: bool,
    pub start: Ps,
    pub duration: Ps,
    pub tokens: u64,
    pub layer: u32,
    pub rows: u64,
    pub latency: Ps,
    pub exposed: Ps,
    pub hidden: Ps,
    pub slack_ps: i64,
    /// A trace replay with timestamps: the engine's measured step time (this step's first
    /// lookup to the next step's) and this layer's measured lookup time.
    pub engine_step: Option<Ps>,
    pub engine_lookup: Option<Ps>,
}

pub const STEP_CSV_HEADER: &str =
    "scenario,seed,step,kind,start_us,step_us,tokens,layer,rows,fetch_latency_us,exposed_us,hidden_us,slack_us";

/// The columns a replayed trace with timestamps adds to the step CSV: the engine's
/// measured step and lookup times beside the simulated ones (empty where not measured).
pub const STEP_CSV_MEASURED: &str = "engine_step_us,engine_lookup_us";

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Keep the per step x Engram layer rows.
    pub step_rows: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions { step_rows: true }
    }
}

/// Runs a scenario (and, when asked, the same without Engram): hardware from `reg`, the
/// model from `models` (a name, or a path relative to the scenario file).
pub fn run_scenario(
    s: &Scenario,
    reg: &Registry,
    models: &ModelRegistry,
) -> Result<RunResult, ScenarioError> {
    run_scenario_with(s, reg, models, RunOptions::default())
}

pub fn run_scenario_with(
    s: &Scenario,
    reg: &Registry,
    models: &ModelRegistry,
    opt: RunOptions,
) -> Result<RunResult, ScenarioError> {
    if let WorkloadSpec::EngramTrace { trace, max_steps } = &s.workload {
        return crate::mwet::replay_scenario(s, reg, models, opt, trace, *max_steps);
    }
    let model = resolve_model(s, models)?;
    let total = Clients::count(s)?;
    let (window, slo) = measured(s, total)?;
    let load = || -> Result<Load, ScenarioError> {
        Ok(Load {
            clients: Clients::open(s)?,
            window,
            slo,
        })
    };
    if s.disaggregation.is_some() {
        return crate::disagg::run_disaggregated(s, reg, &model, load()?, opt);
    }
    let engram = s.engram.is_some();
    let out = ServeSim::new(s, reg, &model, load()?, engram, opt)?.run()?;
    let without = if engram && s.compare_without_engram {
        let o = RunOptions { step_rows: false };
        Some(
            ServeSim::new(s, reg, &model, load()?, false, o)?
                .run()?
                .stats,
        )
    } else {
        None
    };
    Ok(result(s, &model, out, without))
}

/// A run's result: with Engram (`out`), without when run, and the throughput penalty.
pub(crate) fn result(
    s: &Scenario,
    model: &ModelConfig,
    out: SimOutput,
    without: Option<RunStats>,
) -> RunResult {
    let with = out.stats;
    let penalty = without
        .as_ref()
        .filter(|b| b.tokens_per_s > 0.0)
        .map(|b| 1.0 - with.tokens_per_s / b.tokens_per_s);
    RunResult {
        scenario: s.name.clone(),
        seed: s.seed,
        system: s.system.clone(),
        model: model.name.clone(),
        placement: s.engram.as_ref().map(|e| e.tier.name().to_string()),
        with_engram: with,
        without_engram: without,
        penalty,
        step_rows: out.step_rows,
        requests: out.requests,
        batches: out.batches,
    }
}

/// The measured requests of `total` and the goodput objectives, from `[metrics]`.
fn measured(s: &Scenario, total: u64) -> Result<(Window, Slo), ScenarioError> {
    let m = &s.metrics;
    let window = Window {
        warmup: m.warmup_requests,
        cooldown: m.cooldown_requests,
        total,
    };
    if window.warmup + window.cooldown >= total {
        return Err(ScenarioError::Field {
            origin: s.origin.clone(),
            line: crate::limits::key_line(&s.source_text, "metrics.warmup_requests"),
            field: "metrics.warmup_requests".into(),
            value: format!(
                "{} (+ cooldown_requests {})",
                m.warmup_requests, m.cooldown_requests
            ),
            message: format!("leaves none of the {total} requests measured"),
            hint: "warm-up and cool-down together must be fewer than the requests".into(),
        });
    }
    let time = |f: &str, v: &Option<String>| -> Result<Option<Ps>, ScenarioError> {
        v.as_deref().map(|v| s.time_field(f, v).map(Ps)).transpose()
    };
    let slo = Slo {
        ttft: time("metrics.slo_ttft", &m.slo_ttft)?,
        tpot: time("metrics.slo_tpot", &m.slo_tpot)?,
    };
    Ok((window, slo))
}

/// The scenario's model: a known name, or a path to a model file (relative to the
/// scenario's folder when not found from the working directory).
pub(crate) fn resolve_model(
    s: &Scenario,
    models: &ModelRegistry,
) -> Result<ModelConfig, ScenarioError> {
    models
        .resolve(&s.model, scenario_dir(s))
        .map_err(|error| ScenarioError::ModelConfig {
            origin: s.origin.clone(),
            line: s.line_of_key("model"),
            error,
        })
}

/// The folder of the scenario file; none for an embedded or in-memory scenario
/// (`<...>` origins).
fn scenario_dir(s: &Scenario) -> Option<&std::path::Path> {
    std::path::Path::new(&s.origin)
        .parent()
        .filter(|_| !s.origin.starts_with('<'))
}

/// A path the scenario names: as given when absolute or found from the working
/// directory, else relative to the scenario's folder.
pub(crate) fn resolve(s: &Scenario, p: &str) -> std::path::PathBuf {
    let pb = std::path::PathBuf::from(p);
    if pb.is_absolute() || pb.exists() {
        return pb;
    }
    match scenario_dir(s) {
        Some(d) => d.join(pb),
        None => pb,
    }
}
