//! Running a sweep: check every cell before any runs, run the missing ones in parallel
//! (rayon), save each as it finishes, and write the outputs once all are there.

use crate::economics;
use crate::outputs::{self, OutputsError};
use crate::plan::{expand, line_for_key, CellScenario, Plan, PLAN_FORMAT};
use crate::runner::{CellOutput, CellRunner};
use crate::shard::Shard;
use crate::spec::{SweepError, SweepSpec};
use crate::store;
use memwall_models::Registry;
use memwall_reports::output::{write_atomic, OutputError};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a sweep stopped.
///
/// No variant has an error `source`: each message already includes its cause.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The sweep file (or a cell's scenario) is wrong: nothing ran.
    #[error(transparent)]
    Spec(#[from] SweepError),
    /// Some cells failed; the others are saved. `(cell index, message)`.
    #[error("{}", failed_cells(.0))]
    Cells(Vec<(usize, String)>),
    /// A file of the sweep folder could not be written.
    #[error(transparent)]
    Write(#[from] OutputError),
    /// The outputs could not be written.
    #[error(transparent)]
    Outputs(#[from] OutputsError),
    /// A file could not be read.
    #[error("cannot read {}: {err}{hint}", .path.display())]
    Read {
        path: PathBuf,
        err: std::io::Error,
        hint: &'static str,
    },
    /// `plan.json` is not a sweep plan.
    #[error("{} is not a sweep plan: {err}", .path.display())]
    NotAPlan {
        path: PathBuf,
        err: serde_json::Error,
    },
    /// The output folder holds another sweep.
    #[error("{} holds sweep {old:?}, not {new:?}: choose another --out folder", .dir.display())]
    OtherSweep {
        dir: PathBuf,
        old: String,
        new: String,
    },
    /// Merging folders of different sweeps.
    #[error("{} and {} hold different sweeps (their plan.json differ): merge shards of one sweep file", .first.display(), .other.display())]
    DifferentSweeps { first: PathBuf, other: PathBuf },
    /// Cells without a result when the outputs are due.
    #[error("{}", missing_cells(.missing, *.total))]
    Missing { missing: Vec<usize>, total: usize },
    /// `merge` without folders.
    #[error("merge: give at least one sweep folder")]
    NoFolders,
    /// The worker pool could not start.
    #[error("cannot start {threads} threads: {err}")]
    Threads {
        threads: usize,
        err: rayon::ThreadPoolBuildError,
    },
}

fn failed_cells(v: &[(usize, String)]) -> String {
    let mut s = format!("{} cell(s) failed (finished cells are saved):", v.len());
    for (i, m) in v.iter().take(10) {
        s.push_str(&format!("\n  cell {i}: {m}"));
    }
    s
}

fn missing_cells(missing: &[usize], total: usize) -> String {
    let list: Vec<String> = missing.iter().take(12).map(|i| i.to_string()).collect();
    format!(
        "{} of {} cells have no result yet (cells {}{}): run the missing shards (or the sweep again) first",
        missing.len(),
        total,
        list.join(", "),
        if missing.len() > 12 { ", ..." } else { "" }
    )
}

/// A sweep ready to run: its plan and every cell's scenario, all checked.
pub struct Prepared {
    pub plan: Plan,
    pub cells: Vec<CellScenario>,
}

/// Check the sweep against the runner and the profiles, and expand it. Fails, naming
/// the sweep-file line, on: an unknown runner, a system that does not exist, a scenario
/// the runner rejects (unknown key, bad value), a bad economics file.
pub fn prepare(
    spec: &SweepSpec,
    runners: &[&dyn CellRunner],
    reg: &Registry,
) -> Result<(Prepared, usize), SweepError> {
    let ri = find_runner(spec, runners)?;
    let runner = runners[ri];
    let cells = expand(spec, runner)?;
    check_cells(spec, runner, reg, &cells)?;
    let (overrides, over_file) = match &spec.economics {
        Some(p) => (
            economics::load_overrides(p, reg)?,
            p.file_name()
                .map_or(String::new(), |f| f.to_string_lossy().into_owned()),
        ),
        None => (BTreeMap::new(), String::new()),
    };
    let econ = economics::resolve_all(
        reg,
        cells.iter().filter_map(|c| c.cell.system.as_deref()),
        &overrides,
        &over_file,
    );
    let plan = Plan {
        format: PLAN_FORMAT.into(),
        name: spec.name.clone(),
        description: spec.description.clone(),
        runner: runner.name().into(),
        runner_version: runner.version().into(),
        axes: spec.axes.iter().map(|a| a.key.clone()).collect(),
        cells: cells.iter().map(|c| c.cell.clone()).collect(),
        report: spec.report.clone(),
        economics: econ,
    };
    Ok((Prepared { plan, cells }, ri))
}

/// The index of the runner the sweep names.
fn find_runner(spec: &SweepSpec, runners: &[&dyn CellRunner]) -> Result<usize, SweepError> {
    runners
        .iter()
        .position(|r| r.name() == spec.runner)
        .ok_or_else(|| {
            let names: Vec<&str> = runners.iter().map(|r| r.name()).collect();
            SweepError::new(
                &spec.file,
                Some(spec.runner_line),
                format!(
                    "runner {:?} is not known; runners: {}",
                    spec.runner,
                    names.join(", ")
                ),
            )
        })
}

/// Every cell's system exists and the runner accepts every cell's scenario.
fn check_cells(
    spec: &SweepSpec,
    runner: &dyn CellRunner,
    reg: &Registry,
    cells: &[CellScenario],
) -> Result<(), SweepError> {
    let systems = reg.names_of(memwall_models::PartKind::System);
    for c in cells {
        if let Some(v) = c.scenario.get("system") {
            let name = v.as_str().unwrap_or("");
            if !systems.contains(&name) {
                return Err(SweepError::new(
                    &spec.file,
                    Some(line_for_key(spec, Some("system"))),
                    format!(
                        "system {v} does not exist (cell {}); systems: {}",
                        c.cell.index,
                        systems.join(", ")
                    ),
                ));
            }
        }
        runner.check(&c.scenario).map_err(|e| {
            SweepError::new(
                &spec.file,
                Some(line_for_key(spec, e.key.as_deref())),
                format!(
                    "cell {} ({}): {}",
                    c.cell.index,
                    describe(spec, &c.cell.params),
                    e.message
                ),
            )
        })?;
    }
    Ok(())
}

fn describe(spec: &SweepSpec, params: &[String]) -> String {
    spec.axes
        .iter()
        .zip(params)
        .map(|(a, v)| format!("{}={v}", a.key))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How to run.
#[derive(Clone, Debug, Default)]
pub struct SweepOptions {
    pub out: PathBuf,
    /// Worker threads (default: rayon's, the number of CPUs).
    pub threads: Option<usize>,
    pub shard: Option<Shard>,
    /// Stop after running this many cells (to test resumption; a later run finishes).
    pub max_cells: Option<usize>,
    /// Report progress (`memwall_io::progress`: drawn only when the CLI installed a
    /// display, on a terminal).
    pub progress: bool,
}

/// What a run did.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    pub total_cells: usize,
    /// Cells this run (or shard) is responsible for.
    pub owned_cells: usize,
    /// Found finished from an earlier run.
    pub reused: usize,
    /// Run now.
    pub ran: usize,
    /// Still missing (a `max_cells` stop).
    pub remaining: usize,
    /// Cell files found edited or damaged (checksum failed), run again.
    pub damaged: Vec<PathBuf>,
    /// Outputs written (empty for a shard or an incomplete run).
    pub outputs: Vec<PathBuf>,
    pub wall: Duration,
}

/// Write `plan.json` into `dir`.
pub fn write_plan(dir: &Path, plan: &Plan) -> Result<(), EngineError> {
    let mut bytes = serde_json::to_vec_pretty(plan).expect("plan serialises");
    bytes.push(b'\n');
    Ok(write_atomic(&dir.join("plan.json"), &bytes)?)
}

/// Read `plan.json` from `dir`.
pub fn read_plan(dir: &Path) -> Result<Plan, EngineError> {
    let p = dir.join("plan.json");
    let bytes = std::fs::read(&p).map_err(|err| EngineError::Read {
        path: p.clone(),
        err,
        hint: " (is this a sweep output folder?)",
    })?;
    serde_json::from_slice(&bytes).map_err(|err| EngineError::NotAPlan { path: p, err })
}

/// Run (or resume) a prepared sweep with `runner`.
pub fn run(
    prep: &Prepared,
    runner: &dyn CellRunner,
    opts: &SweepOptions,
) -> Result<RunSummary, EngineError> {
    let t0 = Instant::now();
    let dir = &opts.out;
    if let Ok(old) = read_plan(dir) {
        if old.name != prep.plan.name {
            return Err(EngineError::OtherSweep {
                dir: dir.clone(),
                old: old.name,
                new: prep.plan.name.clone(),
            });
        }
    }
    write_plan(dir, &prep.plan)?;
    let owned: Vec<&CellScenario> = prep
        .cells
        .iter()
        .filter(|c| opts.shard.is_none_or(|s| s.owns(c.cell.index)))
        .collect();
    let mut todo: Vec<&CellScenario> = Vec::new();
    let mut damaged = Vec::new();
    for &c in &owned {
        match store::stored(dir, &c.cell.id, Some(&c.canonical)) {
            store::Stored::Done(_) => {}
            store::Stored::Absent => todo.push(c),
            store::Stored::Damaged(p) => {
                damaged.push(p);
                todo.push(c);
            }
        }
    }
    let reused = owned.len() - todo.len();
    let remaining = match opts.max_cells {
        Some(k) if k < todo.len() => {
            let r = todo.len() - k;
            todo.truncate(k);
            r
        }
        _ => 0,
    };
    run_cells(&todo, runner, opts, reused)?;
    let mut summary = RunSummary {
        total_cells: prep.cells.len(),
        owned_cells: owned.len(),
        reused,
        ran: todo.len(),
        remaining,
        damaged,
        outputs: Vec::new(),
        wall: Duration::ZERO,
    };
    if remaining == 0 {
        match opts.shard {
            None => {
                let results = collect(&prep.plan, std::slice::from_ref(dir))?;
                summary.outputs = outputs::write_all(dir, &prep.plan, &results)?;
            }
            Some(s) => write_shard_marker(dir, s, &prep.plan, &owned)?,
        }
    }
    summary.wall = t0.elapsed();
    Ok(summary)
}

/// Runs `todo` in parallel, saving each cell as it finishes; fails listing the cells
/// that failed (the others stay saved).
fn run_cells(
    todo: &[&CellScenario],
    runner: &dyn CellRunner,
    opts: &SweepOptions,
    reused: usize,
) -> Result<(), EngineError> {
    let dir = &opts.out;
    let bar = progress_task(opts.progress, todo.len() as u64, reused);
    let work = || -> Vec<(usize, String)> {
        todo.par_iter()
            .filter_map(|c| {
                let res = runner
                    .run(&c.scenario)
                    .and_then(|out| store::save(dir, c, &out).map_err(|e| e.to_string()));
                if let Some(b) = &bar {
                    b.add(1);
                }
                res.err().map(|e| (c.cell.index, e))
            })
            .collect()
    };
    let mut failed = match opts.threads {
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build()
            .map_err(|err| EngineError::Threads { threads: n, err })?
            .install(work),
        None => work(),
    };
    drop(bar);
    failed.sort_by_key(|f| f.0);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(EngineError::Cells(failed))
    }
}

/// `shards/shard-I-of-N.json`: which cells of which plan this shard finished.
fn write_shard_marker(
    dir: &Path,
    s: Shard,
    plan: &Plan,
    owned: &[&CellScenario],
) -> Result<(), EngineError> {
    let marker = serde_json::json!({
        "shard": s.to_string(),
        "plan": plan.fingerprint(),
        "cells": owned.iter().map(|c| c.cell.index).collect::<Vec<_>>(),
    });
    let p = dir
        .join("shards")
        .join(format!("shard-{}-of-{}.json", s.index, s.count));
    Ok(write_atomic(&p, format!("{marker}\n").as_bytes())?)
}

/// Every cell's output, read from the first of `dirs` that holds it; fails listing the
/// missing cells (and which shard owes them).
pub fn collect(plan: &Plan, dirs: &[PathBuf]) -> Result<Vec<CellOutput>, EngineError> {
    let mut out = Vec::with_capacity(plan.cells.len());
    let mut missing = Vec::new();
    for c in &plan.cells {
        match dirs.iter().find_map(|d| store::load(d, &c.id, None)) {
            Some(o) => out.push(o),
            None => missing.push(c.index),
        }
    }
    if !missing.is_empty() {
        return Err(EngineError::Missing {
            missing,
            total: plan.cells.len(),
        });
    }
    Ok(out)
}

/// Combine shard folders into `out`: check they are shards of one sweep, copy their
/// cell files (so `out` resumes like any sweep folder) and write the outputs exactly as
/// an unsharded run does.
pub fn merge(dirs: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>, EngineError> {
    let first = dirs.first().ok_or(EngineError::NoFolders)?;
    let plan = read_plan(first)?;
    let fp = plan.fingerprint();
    for d in &dirs[1..] {
        let p = read_plan(d)?;
        if p.fingerprint() != fp {
            return Err(EngineError::DifferentSweeps {
                first: first.clone(),
                other: d.clone(),
            });
        }
    }
    let results = collect(&plan, dirs)?;
    write_plan(out, &plan)?;
    for c in &plan.cells {
        let dst = store::cell_path(out, &c.id);
        if dst.exists() {
            continue;
        }
        let src = dirs
            .iter()
            .map(|d| store::cell_path(d, &c.id))
            .find(|p| p.exists())
            .expect("collected above");
        let bytes = std::fs::read(&src).map_err(|err| EngineError::Read {
            path: src.clone(),
            err,
            hint: "",
        })?;
        write_atomic(&dst, &bytes)?;
    }
    Ok(outputs::write_all(out, &plan, &results)?)
}

/// The sweep's progress (drawn by the CLI on a terminal; see `memwall_io::progress`).
fn progress_task(want: bool, n: u64, reused: usize) -> Option<memwall_io::progress::Task> {
    if !want || n < 2 {
        return None;
    }
    let label = if reused > 0 {
        format!("sweep ({reused} reused)")
    } else {
        "sweep".to_string()
    };
    Some(memwall_io::progress::task(&label, Some(n), "cells"))
}
