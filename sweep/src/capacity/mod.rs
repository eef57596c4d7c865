//! Capacity planning (`memwall plan`): for a request stream and TTFT/TPOT objectives,
//! the largest sustainable request rate of every system and placement, what it costs at
//! the user's prices, the cheapest deployment for a target rate, and the frontier of
//! rate against cost. See docs/plan.md.
//!
//! A plan file ([`PlanSpec`]) names a base serving scenario, the systems (each with a
//! price per GPU-hour or node-hour) and placements (scenario keys merged over the base)
//! to try, the stream (Poisson at rate `r`, seeded, lengths from the scenario's request
//! file or ranges), the objectives and the search. Each (system, placement) cell runs
//! its own rate search ([`search::search`]: bracketing then bisection) on
//! `memwall_serve::run_scenario_with`; cells run in parallel with rayon, each cell's
//! probes in order, so the outputs are the same bytes at any thread count.

pub mod report;
pub mod search;
pub mod spec;

pub use report::PlanResult;
pub use search::{CellSearch, Outcome, Probe};
pub use spec::PlanSpec;

use crate::spec::SweepError;
use memwall_llm::ModelRegistry;
use memwall_models::budget::{BudgetError, Estimate};
use memwall_models::Registry;
use memwall_serve::{run_scenario_with, RunOptions, Scenario};
use rayon::prelude::*;

/// Why a plan stopped.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The plan file (or a cell's scenario) is wrong: nothing ran.
    #[error(transparent)]
    Spec(#[from] SweepError),
    /// The plan is estimated past the memory or time budget.
    #[error(transparent)]
    Budget(#[from] BudgetError),
    /// A probe failed to run.
    #[error("{system} / {placement} at {rate} requests/s: {message}")]
    Probe {
        system: String,
        placement: String,
        rate: f64,
        message: String,
    },
    /// The worker pool could not start.
    #[error("cannot start {threads} threads: {err}")]
    Threads {
        threads: usize,
        err: rayon::ThreadPoolBuildError,
    },
    /// An output could not be written.
    #[error(transparent)]
    Output(#[from] memwall_reports::output::OutputError),
    /// A plot could not be drawn or written.
    #[error("plot {stem}: {source}")]
    Plot {
        stem: String,
        source: memwall_reports::plots::PlotError,
    },
}

/// One (system, placement) of the plan, checked.
#[derive(Debug, Clone)]
pub struct PlanCell {
    pub system: String,
    pub placement: String,
    /// The full scenario of a probe, less the stream's rate.
    pub scenario: toml::Table,
    /// GPUs the deployment uses (tensor parallel x replicas).
    pub gpus: u64,
    /// USD per hour of one deployment at the user's price.
    pub usd_per_hour: f64,
}

/// Where the probes' scenarios say they come from: the base scenario file (its paths
/// resolve from its folder, as under `memwall run`), else the plan file.
fn origin(spec: &PlanSpec) -> String {
    spec.scenario_file
        .as_ref()
        .unwrap_or(&spec.file)
        .display()
        .to_string()
}

/// The scenario of `cell` at `rate` requests/s.
fn scenario_at(spec: &PlanSpec, table: &toml::Table, rate: f64) -> Result<Scenario, String> {
    let mut t = table.clone();
    if let Some(toml::Value::Table(w)) = t.get_mut("workload") {
        w.insert("rate".into(), rate.into());
    }
    let text = toml::to_string(&t).map_err(|e| e.to_string())?;
    Scenario::from_toml_str(&origin(spec), &text).map_err(|e| e.to_string())
}

/// Expand the plan into its cells and check each one's scenario, system and budget
/// before anything runs; errors name the plan file's line of the system or placement.
pub fn prepare(spec: &PlanSpec, reg: &Registry) -> Result<Vec<PlanCell>, PlanError> {
    let mut cells = Vec::new();
    let mut est = Estimate {
        bytes: 0,
        seconds: 0.0,
    };
    for sys in &spec.systems {
        let node = reg.system(&sys.name).map_err(|e| {
            SweepError::new(
                &spec.file,
                Some(sys.line),
                format!("system {:?}: {e}", sys.name),
            )
        })?;
        for pname in &sys.placements {
            let (c, e) = cell(spec, sys, pname, node.node.gpus.len())?;
            est = Estimate {
                bytes: est.bytes.max(e.bytes),
                seconds: est.seconds + e.seconds * spec.search.max_probes() as f64,
            };
            cells.push(c);
        }
    }
    est.check(
        &spec.file.display().to_string(),
        false,
        "lower [stream] requests, narrow [search], or plan fewer systems and placements",
    )?;
    Ok(cells)
}

/// System `sys` with placement `pname` (on a node of `node_gpus` GPUs), checked, with the
/// estimate of one probe.
fn cell(
    spec: &PlanSpec,
    sys: &spec::PlanSystem,
    pname: &str,
    node_gpus: usize,
) -> Result<(PlanCell, Estimate), SweepError> {
    let pl = spec.placements.iter().find(|p| p.name == pname);
    let line = pl.map_or(sys.line, |p| if p.line > 1 { p.line } else { sys.line });
    let at = |m: String| SweepError::new(&spec.file, Some(line), m);
    let pl = pl.ok_or_else(|| at(format!("placement {pname:?} is not defined")))?;
    let mut t = spec.base.clone();
    crate::spec::merge_tables(&mut t, &pl.set);
    t.insert("system".into(), sys.name.clone().into());
    t.insert("seed".into(), (spec.seed as i64).into());
    t.insert("compare_without_engram".into(), false.into());
    t.insert("workload".into(), spec.stream.clone().into());
    set_slo_metrics(&mut t, spec);
    let s = scenario_at(spec, &t, spec.search.min_rate).map_err(|m| {
        let first = m.lines().next().unwrap_or("").to_string();
        at(format!(
            "system {} with placement {pname}: {first}",
            sys.name
        ))
    })?;
    let tp = s.engine.tensor_parallel.max(1);
    let replicas = match s.engine.replicas {
        0 => (node_gpus as u64 / tp).max(1),
        r => r as u64,
    };
    let gpus = tp * replicas;
    if gpus > node_gpus as u64 {
        return Err(at(format!(
            "placement {pname} uses {gpus} GPUs (tensor_parallel {tp} x replicas {replicas}) but {} has {node_gpus}: list the placements that fit in the system's `placements`",
            sys.name
        )));
    }
    let per = if sys.per_gpu { gpus as f64 } else { 1.0 };
    let c = PlanCell {
        system: sys.name.clone(),
        placement: pname.to_string(),
        scenario: t,
        gpus,
        usd_per_hour: sys.usd_per_hour * per,
    };
    Ok((c, memwall_serve::limits::estimate(&s, node_gpus)))
}

/// The objectives as the scenario's goodput SLOs, so every probe also reports goodput.
fn set_slo_metrics(t: &mut toml::Table, spec: &PlanSpec) {
    let m = t
        .entry("metrics")
        .or_insert_with(|| toml::Table::new().into());
    if let toml::Value::Table(m) = m {
        if let Some(o) = &spec.slo.ttft {
            m.insert("slo_ttft".into(), o.limit_text.clone().into());
        }
        if let Some(o) = &spec.slo.tpot {
            m.insert("slo_tpot".into(), o.limit_text.clone().into());
        }
    }
}

/// Simulate `cell` at `rate` and judge it against the objectives.
pub fn probe(
    spec: &PlanSpec,
    cell: &PlanCell,
    rate: f64,
    reg: &Registry,
    models: &ModelRegistry,
) -> Result<Probe, PlanError> {
    let fail = |message: String| PlanError::Probe {
        system: cell.system.clone(),
        placement: cell.placement.clone(),
        rate,
        message,
    };
    let s = scenario_at(spec, &cell.scenario, rate).map_err(fail)?;
    let r = run_scenario_with(&s, reg, models, RunOptions { step_rows: false })
        .map_err(|e| fail(e.to_string()))?;
    let latency = r.with_engram.latency;
    Ok(Probe {
        rate,
        pass: spec.slo.met(&latency),
        latency,
    })
}

/// Search every cell, in parallel on `threads` (default: one per CPU); results in the
/// cells' order whatever the thread count.
pub fn run(
    spec: &PlanSpec,
    cells: Vec<PlanCell>,
    reg: &Registry,
    models: &ModelRegistry,
    threads: Option<usize>,
) -> Result<PlanResult, PlanError> {
    let bar = (cells.len() > 1)
        .then(|| memwall_io::progress::task("plan", Some(cells.len() as u64), "cells"));
    let work = || -> Vec<Result<CellSearch, PlanError>> {
        cells
            .par_iter()
            .map(|c| {
                let r = search::search(&spec.search, |rate| probe(spec, c, rate, reg, models));
                if let Some(b) = &bar {
                    b.add(1);
                }
                r
            })
            .collect()
    };
    let results = match threads {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()
            .map_err(|err| PlanError::Threads { threads: n, err })?
            .install(work),
        None => work(),
    };
    drop(bar);
    let searches = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(PlanResult::new(
        spec,
        cells.into_iter().zip(searches).collect(),
    ))
}
