//! `run_scenario`: serves a scenario on its system (the step loop is [`crate::sim`]) and,
//! when asked, the same without Engram, for the throughput penalty.

use memwall_llm::{ModelConfig, ModelRegistry};
use memwall_models::Registry;
use memwall_sim::attribution::CategoryTotals;
use memwall_sim::Ps;

use super::error::{invalid, ScenarioError};
use super::requests::{azure_csv, synthetic, Request};
use super::scenario::{Scenario, WorkloadSpec};
use super::sim::ServeSim;

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
}

pub const STEP_CSV_HEADER: &str =
    "scenario,seed,step,kind,start_us,step_us,tokens,layer,rows,fetch_latency_us,exposed_us,hidden_us,slack_us";

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
    let model = resolve_model(s, models)?;
    let requests = load_requests(s)?;
    let engram = s.engram.is_some();
    let (with, rows) = ServeSim::new(s, reg, &model, &requests, engram, opt)?.run()?;
    let without = if engram && s.compare_without_engram {
        let o = RunOptions { step_rows: false };
        Some(ServeSim::new(s, reg, &model, &requests, false, o)?.run()?.0)
    } else {
        None
    };
    let penalty = without
        .as_ref()
        .filter(|b| b.tokens_per_s > 0.0)
        .map(|b| 1.0 - with.tokens_per_s / b.tokens_per_s);
    Ok(RunResult {
        scenario: s.name.clone(),
        seed: s.seed,
        system: s.system.clone(),
        model: model.name.clone(),
        placement: s.engram.as_ref().map(|e| e.tier.name().to_string()),
        with_engram: with,
        without_engram: without,
        penalty,
        step_rows: rows,
    })
}

fn load_requests(s: &Scenario) -> Result<Vec<Request>, ScenarioError> {
    Ok(match &s.workload {
        WorkloadSpec::Synthetic {
            requests,
            prompt_tokens,
            output_tokens,
        } => synthetic(s.seed, *requests, *prompt_tokens, *output_tokens),
        WorkloadSpec::Azure { csv, max_requests } => {
            let path = resolve(s, csv);
            let text = memwall_io::input::read_to_string_capped(&path).map_err(|e| {
                invalid(
                    &s.origin,
                    format!(
                        "[workload] csv {}: {e}\nhint: paths are relative to the scenario file",
                        path.display()
                    ),
                )
            })?;
            azure_csv(&path.display().to_string(), &text, *max_requests)?
        }
    })
}

/// The scenario's model: a known name, or a path to a model file (relative to the
/// scenario's folder when not found from the working directory).
fn resolve_model(s: &Scenario, models: &ModelRegistry) -> Result<ModelConfig, ScenarioError> {
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
