//! A plan's answer: per cell the largest sustainable rate, its latencies and costs, the
//! cheapest deployment for the target rate; written as `plan.csv` (one row per cell),
//! `probes.csv` (every simulated rate), `summary.json`, `summary.md` and plots (the
//! frontier of rate against cost, and each objective's latency against rate per cell).

use super::search::{CellSearch, Outcome, Probe};
use super::spec::{Objective, PlanSpec};
use super::{PlanCell, PlanError};
use memwall_reports::output::{csv_bytes, write_atomic};
use memwall_reports::plots::{Axis, ParetoPlot, ParetoPoint, Plot, Series, SweepChart};
use memwall_serve::Dist;
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// One cell's search with what it costs.
#[derive(Debug, Clone)]
pub struct CellAnswer {
    pub cell: PlanCell,
    pub search: CellSearch,
}

impl CellAnswer {
    /// The largest rate found to meet the objectives (requests/s).
    pub fn max_rate(&self) -> Option<f64> {
        self.search.best().map(|p| p.rate)
    }
    /// USD per million output tokens at the max rate.
    pub fn usd_per_m_tokens(&self) -> Option<f64> {
        let t = self.search.best()?.latency.output_throughput;
        (t > 0.0).then(|| self.cell.usd_per_hour / (t * 3600.0) * 1e6)
    }
    /// Deployments needed for `target` requests/s (data-parallel copies of this one).
    pub fn instances_for(&self, target: f64) -> Option<u64> {
        self.max_rate().map(|r| (target / r).ceil().max(1.0) as u64)
    }
}

/// Every cell's answer, in plan order, and the cheapest for the target rate.
#[derive(Debug, Clone)]
pub struct PlanResult {
    pub name: String,
    pub target_rate: Option<f64>,
    pub cells: Vec<CellAnswer>,
    /// Index of the cell whose deployments reach the target rate at the least cost per
    /// hour (the first such on ties).
    pub cheapest: Option<usize>,
}

impl PlanResult {
    pub fn new(spec: &PlanSpec, cells: Vec<(PlanCell, CellSearch)>) -> PlanResult {
        let cells: Vec<CellAnswer> = cells
            .into_iter()
            .map(|(cell, search)| CellAnswer { cell, search })
            .collect();
        let cheapest = spec.target_rate.and_then(|t| {
            let fleet = |c: &CellAnswer| c.instances_for(t).map(|n| n as f64 * c.cell.usd_per_hour);
            (0..cells.len())
                .filter_map(|i| fleet(&cells[i]).map(|f| (i, f)))
                .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)))
                .map(|(i, _)| i)
        });
        PlanResult {
            name: spec.name.clone(),
            target_rate: spec.target_rate,
            cells,
            cheapest,
        }
    }
}

/// Shortest round-trip decimal, or empty.
fn num(v: Option<f64>) -> String {
    v.map_or(String::new(), |v| format!("{v}"))
}

fn ms(v: f64) -> f64 {
    v * 1e3
}

fn dist_ms(d: &Dist) -> [f64; 3] {
    [ms(d.p50_s), ms(d.p90_s), ms(d.p99_s)]
}

/// The latency and throughput columns of a probe, shared by both CSVs.
const LATENCY_COLUMNS: [&str; 7] = [
    "ttft_p50_ms",
    "ttft_p90_ms",
    "ttft_p99_ms",
    "tpot_p50_ms",
    "tpot_p90_ms",
    "tpot_p99_ms",
    "output_throughput_tokens_per_s",
];

/// A probe's cells under `LATENCY_COLUMNS` (empty without a probe).
fn latency_cells(p: Option<&Probe>) -> Vec<String> {
    match p {
        Some(p) => {
            let l = &p.latency;
            dist_ms(&l.ttft)
                .into_iter()
                .chain(dist_ms(&l.tpot))
                .chain([l.output_throughput])
                .map(|v| num(Some(v)))
                .collect()
        }
        None => vec![num(None); LATENCY_COLUMNS.len()],
    }
}

/// `plan.csv`'s columns before and after `LATENCY_COLUMNS`.
const PLAN_KEY_COLUMNS: [&str; 8] = [
    "cell",
    "system",
    "placement",
    "gpus",
    "outcome",
    "max_rate_req_per_s",
    "first_fail_req_per_s",
    "probes",
];
const PLAN_COST_COLUMNS: [&str; 9] = [
    "goodput_pct",
    "hourly_cost_usd_per_h",
    "usd_per_1m_output_tokens",
    "usd_per_h_per_req_per_s",
    "target_rate_req_per_s",
    "instances_for_target",
    "fleet_cost_usd_per_h",
    "meets_target",
    "cheapest_for_target",
];

/// `plan.csv`: one row per cell.
pub fn plan_csv(r: &PlanResult) -> Vec<u8> {
    let rows = r.cells.iter().enumerate().map(|(i, c)| plan_row(r, i, c));
    let header: Vec<&str> = PLAN_KEY_COLUMNS
        .into_iter()
        .chain(LATENCY_COLUMNS)
        .chain(PLAN_COST_COLUMNS)
        .collect();
    csv_bytes(&header, rows)
}

/// Cell `i`'s row of `plan.csv`.
fn plan_row(r: &PlanResult, i: usize, c: &CellAnswer) -> Vec<String> {
    let best = c.search.best();
    let mut row = vec![
        i.to_string(),
        c.cell.system.clone(),
        c.cell.placement.clone(),
        c.cell.gpus.to_string(),
        c.search.outcome.label().to_string(),
        num(c.max_rate()),
        num(c.search.first_fail().map(|p| p.rate)),
        c.search.probes.len().to_string(),
    ];
    row.extend(latency_cells(best));
    let good = best
        .and_then(|p| p.latency.goodput)
        .map(|g| g.fraction * 100.0);
    let inst = r.target_rate.and_then(|t| c.instances_for(t));
    let meets = match (r.target_rate, c.max_rate()) {
        (Some(t), Some(m)) => (m >= t).to_string(),
        (Some(_), None) => "false".into(),
        _ => String::new(),
    };
    let cheapest = match r.target_rate {
        Some(_) => (r.cheapest == Some(i)).to_string(),
        None => String::new(),
    };
    row.extend([
        num(good),
        num(Some(c.cell.usd_per_hour)),
        num(c.usd_per_m_tokens()),
        num(c.max_rate().map(|m| c.cell.usd_per_hour / m)),
        num(r.target_rate),
        inst.map_or(String::new(), |n| n.to_string()),
        num(inst.map(|n| n as f64 * c.cell.usd_per_hour)),
        meets,
        cheapest,
    ]);
    row
}

/// `probes.csv`: every simulated rate of every cell, in the order run.
pub fn probes_csv(r: &PlanResult) -> Vec<u8> {
    let mut header = vec![
        "cell",
        "system",
        "placement",
        "probe",
        "rate_req_per_s",
        "meets_slo",
        "measured_requests",
    ];
    header.extend(LATENCY_COLUMNS);
    let mut rows = Vec::new();
    for (i, c) in r.cells.iter().enumerate() {
        for (k, p) in c.search.probes.iter().enumerate() {
            let mut row = vec![
                i.to_string(),
                c.cell.system.clone(),
                c.cell.placement.clone(),
                k.to_string(),
                num(Some(p.rate)),
                p.pass.to_string(),
                p.latency.measured.to_string(),
            ];
            row.extend(latency_cells(Some(p)));
            rows.push(row);
        }
    }
    csv_bytes(&header, rows)
}

/// The objectives in words: `TTFT p99 <= 200 ms`.
fn objectives(spec: &PlanSpec) -> Vec<(&'static str, &Objective)> {
    let mut v = Vec::new();
    if let Some(o) = &spec.slo.ttft {
        v.push(("TTFT", o));
    }
    if let Some(o) = &spec.slo.tpot {
        v.push(("TPOT", o));
    }
    v
}

/// Two significant decimals past the point for humans.
fn fmt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// The human table (Markdown): printed by `memwall plan` and kept as `summary.md`.
pub fn summary_md(spec: &PlanSpec, r: &PlanResult) -> String {
    let mut s = format!("# Capacity plan: {}\n\n", r.name);
    if let Some(d) = &spec.description {
        let _ = writeln!(s, "{d}\n");
    }
    let slo: Vec<String> = objectives(spec)
        .iter()
        .map(|(m, o)| format!("{m} {} <= {}", o.stat.label(), o.limit_text))
        .collect();
    let _ = writeln!(
        s,
        "SLO: {}. Stream: Poisson, seed {}, {} requests per probe. Search: {} to {} requests/s, tolerance {}%.\n",
        slo.join(", "),
        spec.seed,
        spec.stream.get("requests").and_then(|v| v.as_integer()).unwrap_or(0),
        spec.search.min_rate,
        spec.search.max_rate,
        spec.search.tolerance * 100.0
    );
    s.push_str("| system | placement | GPUs | max rate (req/s) | TTFT p99 (ms) | TPOT p99 (ms) | output tok/s | $/h | $/1M tokens | for target | fleet $/h |\n");
    s.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (i, c) in r.cells.iter().enumerate() {
        let best = c.search.best();
        let rate = match c.search.outcome {
            Outcome::Found => fmt(c.max_rate(), 2),
            Outcome::AtLeastMax => format!(">= {}", fmt(c.max_rate(), 2)),
            Outcome::BelowMin => format!("< {}", spec.search.min_rate),
        };
        let inst = r.target_rate.and_then(|t| c.instances_for(t));
        let mark = if r.cheapest == Some(i) {
            " **cheapest**"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {rate} | {} | {} | {} | {:.2} | {} | {} | {}{mark} |",
            c.cell.system,
            c.cell.placement,
            c.cell.gpus,
            fmt(best.map(|p| ms(p.latency.ttft.p99_s)), 1),
            fmt(best.map(|p| ms(p.latency.tpot.p99_s)), 2),
            fmt(best.map(|p| p.latency.output_throughput), 0),
            c.cell.usd_per_hour,
            fmt(c.usd_per_m_tokens(), 3),
            inst.map_or("-".into(), |n| format!("{n}x")),
            fmt(inst.map(|n| n as f64 * c.cell.usd_per_hour), 2),
        );
    }
    cheapest_line(&mut s, r);
    s.push_str("\nPrices (user's):\n");
    for sys in &spec.systems {
        let per = if sys.per_gpu { "GPU" } else { "node" };
        let _ = writeln!(
            s,
            "- {}: ${}/h per {per} ({})",
            sys.name, sys.usd_per_hour, sys.source
        );
    }
    s
}

/// Which deployment reaches the target rate at the least cost per hour.
fn cheapest_line(s: &mut String, r: &PlanResult) {
    match (r.target_rate, r.cheapest) {
        (Some(t), Some(i)) => {
            let c = &r.cells[i];
            let n = c.instances_for(t).unwrap_or(0);
            let _ = writeln!(
                s,
                "\nCheapest for {t} requests/s: {} x {} / {} ({} GPU{}) at ${:.2}/h.",
                n,
                c.cell.system,
                c.cell.placement,
                n * c.cell.gpus,
                if n * c.cell.gpus == 1 { "" } else { "s" },
                n as f64 * c.cell.usd_per_hour
            );
        }
        (Some(t), None) => {
            let _ = writeln!(
                s,
                "\nNo cell meets the SLO at any rate searched: none reaches {t} requests/s."
            );
        }
        _ => {}
    }
}

/// `summary.json`: the plan's inputs and every cell's answer.
pub fn summary_json(spec: &PlanSpec, r: &PlanResult) -> String {
    let slo: Vec<_> = objectives(spec)
        .iter()
        .map(|(m, o)| json!({"metric": m, "stat": o.stat.label(), "limit_s": o.limit_s}))
        .collect();
    let cells: Vec<_> = r
        .cells
        .iter()
        .map(|c| {
            let b = c.search.best();
            json!({
                "system": c.cell.system,
                "placement": c.cell.placement,
                "gpus": c.cell.gpus,
                "outcome": c.search.outcome.label(),
                "max_rate_req_per_s": c.max_rate(),
                "first_fail_req_per_s": c.search.first_fail().map(|p| p.rate),
                "probes": c.search.probes.len(),
                "ttft_p99_ms": b.map(|p| ms(p.latency.ttft.p99_s)),
                "tpot_p99_ms": b.map(|p| ms(p.latency.tpot.p99_s)),
                "output_throughput_tokens_per_s": b.map(|p| p.latency.output_throughput),
                "hourly_cost_usd_per_h": c.cell.usd_per_hour,
                "usd_per_1m_output_tokens": c.usd_per_m_tokens(),
            })
        })
        .collect();
    let prices: Vec<_> = spec
        .systems
        .iter()
        .map(|s| json!({"system": s.name, "usd_per_hour": s.usd_per_hour, "per": if s.per_gpu {"gpu"} else {"node"}, "source": s.source}))
        .collect();
    let v = json!({
        "format": "memwall-plan-summary/1",
        "name": r.name,
        "description": spec.description,
        "slo": slo,
        "requests_per_probe": spec.stream.get("requests").and_then(|v| v.as_integer()),
        "seed": spec.seed,
        "search": {"min_rate": spec.search.min_rate, "max_rate": spec.search.max_rate, "tolerance": spec.search.tolerance},
        "target_rate_req_per_s": r.target_rate,
        "cheapest_for_target": r.cheapest,
        "prices": prices,
        "cells": cells,
    });
    serde_json::to_string_pretty(&v).expect("summary serialises") + "\n"
}

/// Rate against cost of one deployment, the frontier highlighted (cells that meet the
/// objectives at some rate).
fn frontier_plot(r: &PlanResult) -> Option<ParetoPlot> {
    let points: Vec<ParetoPoint> = r
        .cells
        .iter()
        .filter_map(|c| {
            Some(ParetoPoint {
                label: format!("{} {}", c.cell.system, c.cell.placement),
                cost: c.cell.usd_per_hour,
                throughput: c.max_rate()?,
            })
        })
        .collect();
    (!points.is_empty()).then(|| ParetoPlot {
        title: format!("{}: max sustainable rate against cost", r.name),
        cost: Axis::new("cost of one deployment", "USD/h"),
        throughput: Axis::new("max rate under the SLO", "requests/s"),
        points,
    })
}

/// One objective's latency against rate, a line per cell through its probes, and the
/// limit as a flat line.
fn latency_chart(r: &PlanResult, metric: &str, o: &Objective) -> SweepChart {
    let value = |p: &Probe| {
        let d = if metric == "TTFT" {
            &p.latency.ttft
        } else {
            &p.latency.tpot
        };
        ms(o.stat.of(d))
    };
    let mut series: Vec<Series> = r
        .cells
        .iter()
        .map(|c| Series {
            name: format!("{} {}", c.cell.system, c.cell.placement),
            points: c
                .search
                .probes
                .iter()
                .filter(|p| value(p) > 0.0)
                .map(|p| (p.rate, value(p)))
                .collect(),
        })
        .collect();
    let rates = r
        .cells
        .iter()
        .flat_map(|c| c.search.probes.iter().map(|p| p.rate));
    let lo = rates.clone().fold(f64::INFINITY, f64::min);
    let hi = rates.fold(0.0, f64::max);
    series.push(Series {
        name: format!("SLO {}", o.limit_text),
        points: vec![(lo, ms(o.limit_s)), (hi, ms(o.limit_s))],
    });
    SweepChart {
        title: format!(
            "{}: {metric} {} against request rate",
            r.name,
            o.stat.label()
        ),
        x: Axis::new("request rate", "requests/s"),
        y: Axis::new(format!("{metric} {}", o.stat.label()), "ms"),
        series,
        log_x: true,
        log_y: true,
        keep_order: false,
    }
}

/// Write every output into `dir`; returns the paths written.
pub fn write_all(dir: &Path, spec: &PlanSpec, r: &PlanResult) -> Result<Vec<PathBuf>, PlanError> {
    let mut written = Vec::new();
    let md = summary_md(spec, r);
    for (name, bytes) in [
        ("plan.csv", plan_csv(r)),
        ("probes.csv", probes_csv(r)),
        ("summary.json", summary_json(spec, r).into_bytes()),
        ("summary.md", md.into_bytes()),
    ] {
        let p = dir.join(name);
        write_atomic(&p, &bytes)?;
        written.push(p);
    }
    let mut plots: Vec<(String, Result<_, _>)> = Vec::new();
    if let Some(f) = frontier_plot(r) {
        plots.push(("frontier".into(), f.render()));
    }
    for (m, o) in objectives(spec) {
        let stem = format!("{}-rate", m.to_lowercase());
        plots.push((stem, latency_chart(r, m, o).render()));
    }
    for (stem, rendered) in plots {
        let (png, svg) = rendered
            .and_then(|x| x.write(&dir.join("plots").join(&stem)))
            .map_err(|source| PlanError::Plot { stem, source })?;
        written.extend([png, svg]);
    }
    Ok(written)
}
