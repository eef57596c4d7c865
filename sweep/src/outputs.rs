//! A finished sweep's outputs, from its plan and its cells' outputs alone (so a merge
//! of shards writes exactly what one run writes):
//!
//! * `sweep.csv`: tidy, one row per measured quantity of each cell;
//! * `cells.csv`: one row per cell, one column per quantity, the unit in the column name;
//! * `summary.json`: the same numbers with economics, their sources and the frontier;
//! * `summary.md`: a short human summary;
//! * `plots/`: the configured sweep charts, the Pareto plot, hidden/exposed bars and the
//!   CDF of per-step exposed latency, each as PNG and SVG.
//!
//! Schema: docs/csv-schema.md; guide: docs/sweeps.md.

use crate::economics::{cell_cost, derived_metrics, within_limit};
use crate::plan::Plan;
use crate::runner::{CellOutput, Metric};
use crate::spec::{ChartSpec, CostBasis};
use memwall_reports::output::{csv_bytes, write_atomic, OutputError};
use memwall_reports::plots::{pareto_frontier, Axis, PlotError};
use memwall_reports::plots::{
    BarGroup, BarSegment, Cdf, CdfSeries, HiddenExposedBars, ParetoPlot, ParetoPoint, Plot, Series,
    SweepChart,
};
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Most cells drawn one bar group (or one CDF line) each; larger sweeps skip those plots.
pub const MAX_BAR_GROUPS: usize = 24;
pub const MAX_CDF_SERIES: usize = 10;

/// A column-name-safe unit: `tokens/s` -> `tokens_per_s`, `%` -> `pct`.
pub fn unit_slug(unit: &str) -> String {
    unit.replace('/', "_per_")
        .replace('%', "pct")
        .replace(' ', "_")
}

/// The number as written in CSV: Rust's shortest round-trip decimal.
fn num(v: f64) -> String {
    format!("{v}")
}

/// A cell's full metric list: the runner's, then economics, then the limit and frontier
/// flags.
pub fn all_metrics(plan: &Plan, out: &[CellOutput]) -> Vec<Vec<Metric>> {
    let front = frontier(plan, out);
    plan.cells
        .iter()
        .zip(out)
        .map(|(c, o)| {
            let mut m = o.metrics.clone();
            m.extend(derived_metrics(plan, c, o));
            if plan.report.exposed_limit_us.is_some() {
                m.push(Metric::new(
                    "within_exposed_limit",
                    "bool",
                    within_limit(plan, o) as u8 as f64,
                ));
            }
            if !plan.economics.is_empty() && cell_cost(plan, c, o).is_some() {
                m.push(Metric::new(
                    "on_pareto_frontier",
                    "bool",
                    front.contains(&c.index) as u8 as f64,
                ));
            }
            m
        })
        .collect()
}

/// Cells (indices) on the throughput-against-cost frontier, among those within the
/// exposed limit and with a known cost, in increasing cost.
pub fn frontier(plan: &Plan, out: &[CellOutput]) -> Vec<usize> {
    let (pts, idx) = pareto_points(plan, out);
    pareto_frontier(&pts).into_iter().map(|i| idx[i]).collect()
}

fn pareto_points(plan: &Plan, out: &[CellOutput]) -> (Vec<ParetoPoint>, Vec<usize>) {
    let mut pts = Vec::new();
    let mut idx = Vec::new();
    for (c, o) in plan.cells.iter().zip(out) {
        let (Some((cost, _)), Some(t)) = (cell_cost(plan, c, o), o.metric(&plan.report.throughput))
        else {
            continue;
        };
        if !within_limit(plan, o) {
            continue;
        }
        pts.push(ParetoPoint {
            label: c.params.join(" "),
            cost,
            throughput: t.value,
        });
        idx.push(c.index);
    }
    (pts, idx)
}

/// The tidy CSV.
pub fn tidy_csv(plan: &Plan, out: &[CellOutput]) -> Vec<u8> {
    let mut header: Vec<&str> = vec!["cell"];
    header.extend(plan.axes.iter().map(String::as_str));
    header.extend(["category", "quantity", "unit", "value"]);
    let metrics = all_metrics(plan, out);
    let mut rows: Vec<Vec<String>> = Vec::new();
    for ((c, o), ms) in plan.cells.iter().zip(out).zip(&metrics) {
        let lead = |rows: &mut Vec<Vec<String>>, cat: &str, q: &str, unit: &str, v: f64| {
            let mut r = vec![c.index.to_string()];
            r.extend(c.params.iter().cloned());
            r.extend([cat.to_string(), q.to_string(), unit.to_string(), num(v)]);
            rows.push(r);
        };
        for m in ms {
            lead(&mut rows, "", &m.name, &m.unit, m.value);
        }
        for s in &o.categories {
            lead(&mut rows, &s.category, "hidden", "us", s.hidden_us);
            lead(&mut rows, &s.category, "exposed", "us", s.exposed_us);
        }
    }
    csv_bytes(&header, rows)
}

/// The wide CSV: one row per cell; columns `<quantity>_<unit>`, in first-seen order.
pub fn wide_csv(plan: &Plan, out: &[CellOutput]) -> Vec<u8> {
    let metrics = all_metrics(plan, out);
    let mut cols: Vec<(String, String)> = Vec::new();
    for ms in &metrics {
        for m in ms {
            if !cols.iter().any(|(n, u)| n == &m.name && u == &m.unit) {
                cols.push((m.name.clone(), m.unit.clone()));
            }
        }
    }
    let mut cats: Vec<String> = Vec::new();
    for o in out {
        for s in &o.categories {
            if !cats.contains(&s.category) {
                cats.push(s.category.clone());
            }
        }
    }
    let mut header: Vec<String> = vec!["cell".into()];
    header.extend(plan.axes.iter().cloned());
    header.extend(cols.iter().map(|(n, u)| format!("{n}_{}", unit_slug(u))));
    for c in &cats {
        header.push(format!("hidden_{c}_us"));
        header.push(format!("exposed_{c}_us"));
    }
    let rows = plan
        .cells
        .iter()
        .zip(out)
        .zip(&metrics)
        .map(|((c, o), ms)| {
            let mut r = vec![c.index.to_string()];
            r.extend(c.params.iter().cloned());
            for (n, u) in &cols {
                r.push(
                    ms.iter()
                        .find(|m| &m.name == n && &m.unit == u)
                        .map_or(String::new(), |m| num(m.value)),
                );
            }
            for cat in &cats {
                match o.categories.iter().find(|s| &s.category == cat) {
                    Some(s) => {
                        r.push(num(s.hidden_us));
                        r.push(num(s.exposed_us));
                    }
                    None => r.extend([String::new(), String::new()]),
                }
            }
            r
        });
    let h: Vec<&str> = header.iter().map(String::as_str).collect();
    csv_bytes(&h, rows)
}

/// The JSON summary.
pub fn summary_json(plan: &Plan, out: &[CellOutput]) -> String {
    let metrics = all_metrics(plan, out);
    let front = frontier(plan, out);
    let cells: Vec<_> = plan
        .cells
        .iter()
        .zip(&metrics)
        .zip(out)
        .map(|((c, ms), o)| {
            let params: serde_json::Map<String, serde_json::Value> = plan
                .axes
                .iter()
                .zip(&c.params)
                .map(|(a, v)| (a.clone(), json!(v)))
                .collect();
            let m: Vec<_> = ms
                .iter()
                .map(|m| json!({"name": m.name, "unit": m.unit, "value": m.value}))
                .collect();
            let cats: Vec<_> = o
                .categories
                .iter()
                .map(|s| json!({"category": s.category, "hidden_us": s.hidden_us, "exposed_us": s.exposed_us}))
                .collect();
            json!({"cell": c.index, "id": c.id, "params": params, "metrics": m, "categories": cats})
        })
        .collect();
    let v = json!({
        "format": "memwall-sweep-summary/1",
        "name": plan.name,
        "description": plan.description,
        "runner": plan.runner,
        "runner_version": plan.runner_version,
        "axes": plan.axes,
        "cell_count": plan.cells.len(),
        "throughput_metric": plan.report.throughput,
        "exposed_metric": plan.report.exposed,
        "exposed_limit_us": plan.report.exposed_limit_us,
        "cost_basis": plan.report.cost,
        "economics": plan.economics,
        "pareto_frontier": front,
        "cells": cells,
    });
    serde_json::to_string_pretty(&v).expect("summary serialises") + "\n"
}

/// The Markdown summary.
pub fn summary_md(plan: &Plan, out: &[CellOutput], plots: &[String]) -> String {
    let metrics = all_metrics(plan, out);
    let front = frontier(plan, out);
    let mut s = format!("# Sweep: {}\n\n", plan.name);
    if let Some(d) = &plan.description {
        let _ = writeln!(s, "{d}\n");
    }
    let _ = writeln!(
        s,
        "{} cells over {} (runner `{}` {}).\n",
        plan.cells.len(),
        plan.axes
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", "),
        plan.runner,
        plan.runner_version
    );
    cell_table(&mut s, plan, out, &metrics, &front);
    limit_section(&mut s, plan, out);
    frontier_section(&mut s, plan, out, &front);
    economics_section(&mut s, plan);
    if !plots.is_empty() {
        s.push_str("Plots:\n\n");
        for p in plots {
            let _ = writeln!(s, "- [{p}]({p})");
        }
        s.push('\n');
    }
    s
}

/// The name of the cost metric the report ranks by.
fn cost_name(plan: &Plan) -> &'static str {
    match plan.report.cost {
        CostBasis::Hourly => "hourly_cost",
        CostBasis::Purchase => "purchase_cost",
    }
}

/// The cells the summary table shows: all of up to 40, else the 15 highest-throughput
/// ones and the frontier.
fn shown_cells(plan: &Plan, out: &[CellOutput], front: &[usize]) -> Vec<usize> {
    if plan.cells.len() <= 40 {
        return (0..plan.cells.len()).collect();
    }
    let tput = &plan.report.throughput;
    let mut by_t: Vec<usize> = (0..plan.cells.len()).collect();
    by_t.sort_by(|&a, &b| {
        let t = |i: usize| out[i].metric(tput).map_or(f64::NEG_INFINITY, |m| m.value);
        t(b).total_cmp(&t(a)).then(a.cmp(&b))
    });
    let mut v: Vec<usize> = by_t.into_iter().take(15).collect();
    v.extend(front.iter().copied());
    v.sort();
    v.dedup();
    v
}

/// The table of key columns, one row per shown cell.
fn cell_table(
    s: &mut String,
    plan: &Plan,
    out: &[CellOutput],
    metrics: &[Vec<Metric>],
    front: &[usize],
) {
    let shown = shown_cells(plan, out, front);
    let cols = [
        plan.report.throughput.as_str(),
        plan.report.exposed.as_str(),
        "throughput_penalty",
        cost_name(plan),
        "tokens_per_usd",
        "throughput_per_watt",
    ];
    let present: Vec<&str> = cols
        .iter()
        .copied()
        .filter(|n| metrics.iter().flatten().any(|m| m.name == *n))
        .collect();
    let unit_of = |n: &str| {
        metrics
            .iter()
            .flatten()
            .find(|m| m.name == n)
            .map_or(String::new(), |m| m.unit.clone())
    };
    let mut head: Vec<String> = vec!["cell".into()];
    head.extend(plan.axes.iter().cloned());
    head.extend(present.iter().map(|n| format!("{n} ({})", unit_of(n))));
    head.push("frontier".into());
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
    for &i in &shown {
        let c = &plan.cells[i];
        let mut r = vec![c.index.to_string()];
        r.extend(c.params.iter().cloned());
        for n in &present {
            r.push(
                metrics[i]
                    .iter()
                    .find(|m| m.name == *n)
                    .map_or("-".into(), |m| sig(m.value)),
            );
        }
        r.push(if front.contains(&i) {
            "yes".into()
        } else {
            String::new()
        });
        let _ = writeln!(s, "| {} |", r.join(" | "));
    }
    if shown.len() < plan.cells.len() {
        let _ = writeln!(
            s,
            "\n(The {} highest-throughput cells and the frontier; every cell is in `cells.csv`.)",
            shown.len()
        );
    }
    s.push('\n');
}

/// How many cells stay under the exposed-latency limit, if one was set.
fn limit_section(s: &mut String, plan: &Plan, out: &[CellOutput]) {
    match plan.report.exposed_limit_us {
        Some(l) => {
            let ok = out.iter().filter(|o| within_limit(plan, o)).count();
            let _ = writeln!(
                s,
                "Exposed limit: `{}` <= {l} us; {ok} of {} cells stay under it.\n",
                plan.report.exposed,
                plan.cells.len()
            );
        }
        None => s.push_str("No exposed-latency limit was set (`report.exposed_limit`).\n\n"),
    }
}

/// The Pareto frontier, cheapest first.
fn frontier_section(s: &mut String, plan: &Plan, out: &[CellOutput], front: &[usize]) {
    if front.is_empty() {
        s.push_str("No Pareto frontier: no cell has both a known cost and a throughput within the limit (supply prices with `economics = \"...\"`).\n\n");
        return;
    }
    let _ = writeln!(
        s,
        "Pareto frontier (throughput against {}, cheapest first):\n",
        cost_name(plan)
    );
    for &i in front {
        let c = &plan.cells[i];
        let cost = cell_cost(plan, c, &out[i]).map_or(0.0, |x| x.0);
        let t = out[i]
            .metric(&plan.report.throughput)
            .map_or(0.0, |m| m.value);
        let _ = writeln!(
            s,
            "- cell {i} ({}): {} tokens/s at {}",
            describe(plan, i),
            sig(t),
            sig(cost)
        );
    }
    s.push('\n');
}

/// Economics per node with the source of each figure.
fn economics_section(s: &mut String, plan: &Plan) {
    if plan.economics.is_empty() {
        return;
    }
    s.push_str("Economics per node and where each figure comes from:\n\n");
    for (sys, e) in &plan.economics {
        let f = |x: &Option<crate::economics::Sourced>, u: &str| {
            x.as_ref().map_or("unknown".to_string(), |v| {
                format!("{} {u} [{}]", sig(v.value), v.source)
            })
        };
        let _ = writeln!(
            s,
            "- `{sys}`: purchase {}; hourly {}; power {}; rack units {}",
            f(&e.purchase_usd, "USD"),
            f(&e.hourly_usd, "USD/h"),
            f(&e.power_w, "W"),
            f(&e.rack_units, "RU")
        );
    }
    s.push('\n');
}

fn describe(plan: &Plan, i: usize) -> String {
    plan.axes
        .iter()
        .zip(&plan.cells[i].params)
        .map(|(a, v)| format!("{a}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Four significant figures, for humans.
fn sig(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let mag = v.abs().log10().floor() as i32;
    let dec = (3 - mag).clamp(0, 9) as usize;
    format!("{v:.dec$}")
}

/// One of the plots a sweep draws.
enum SweepPlot {
    Chart(SweepChart),
    Pareto(ParetoPlot),
    Bars(HiddenExposedBars),
    Cdf(Cdf),
}

impl SweepPlot {
    /// Draw and write `<stem>.png` and `<stem>.svg`.
    fn write(&self, stem: &Path) -> Result<(), PlotError> {
        match self {
            SweepPlot::Chart(p) => p.write(stem),
            SweepPlot::Pareto(p) => p.write(stem),
            SweepPlot::Bars(p) => p.write(stem),
            SweepPlot::Cdf(p) => p.write(stem),
        }
        .map(|_| ())
    }
}

/// The plots of a sweep: (file stem, plot).
fn plots(plan: &Plan, out: &[CellOutput]) -> Vec<(String, SweepPlot)> {
    let metrics = all_metrics(plan, out);
    let mut v: Vec<(String, SweepPlot)> = Vec::new();
    for (k, ch) in plan.report.charts.iter().enumerate() {
        if let Some(chart) = sweep_chart(plan, &metrics, ch) {
            let stem = format!("chart-{}-{}", k + 1, unit_slug(&ch.y));
            v.push((stem, SweepPlot::Chart(chart)));
        }
    }
    if let Some(p) = pareto_plot(plan, out) {
        v.push(("pareto".into(), SweepPlot::Pareto(p)));
    }
    if let Some(b) = hidden_exposed_bars(plan, out) {
        v.push(("hidden-exposed".into(), SweepPlot::Bars(b)));
    }
    if let Some(c) = exposed_cdf(plan, out) {
        v.push(("exposed-cdf".into(), SweepPlot::Cdf(c)));
    }
    v
}

/// A configured chart: `y` against axis `x` (or against metric `x` along axis `along`),
/// one line per value of the series axis and of the other axes; `None` when no cell has
/// a numeric `x` and a `y`.
fn sweep_chart(plan: &Plan, metrics: &[Vec<Metric>], ch: &ChartSpec) -> Option<SweepChart> {
    let swept = ch.along.as_ref().unwrap_or(&ch.x);
    let xi = plan.axes.iter().position(|a| a == swept)?;
    let si = ch
        .series
        .as_ref()
        .and_then(|s| plan.axes.iter().position(|a| a == s));
    let swept_unit = ch
        .x_unit
        .clone()
        .unwrap_or_else(|| String::from("as swept"));
    let mut units = (swept_unit, String::new());
    let mut series: Vec<Series> = Vec::new();
    for (c, ms) in plan.cells.iter().zip(metrics) {
        let Some(m) = ms.iter().find(|m| m.name == ch.y) else {
            continue;
        };
        let x = match &ch.along {
            Some(_) => match ms.iter().find(|m| m.name == ch.x) {
                Some(mx) => {
                    units.0 = mx.unit.clone();
                    mx.value
                }
                None => continue,
            },
            None => match c.params[xi].parse::<f64>() {
                Ok(x) => x,
                Err(_) => continue,
            },
        };
        units.1 = m.unit.clone();
        // One line per series value and per value of the other axes.
        let name: String = plan
            .axes
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != xi && Some(*i) != si)
            .map(|(i, a)| format!("{a}={}", c.params[i]))
            .chain(si.map(|i| c.params[i].clone()))
            .collect::<Vec<_>>()
            .join(" ");
        let name = if name.is_empty() { ch.y.clone() } else { name };
        match series.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push((x, m.value)),
            None => series.push(Series {
                name,
                points: vec![(x, m.value)],
            }),
        }
    }
    if series.is_empty() {
        return None;
    }
    Some(SweepChart {
        title: ch
            .title
            .clone()
            .unwrap_or_else(|| format!("{} against {}", ch.y, ch.x)),
        x: Axis::new(ch.x.clone(), units.0),
        y: Axis::new(ch.y.clone(), units.1),
        series,
        log_x: ch.log_x,
        log_y: ch.log_y,
        keep_order: ch.along.is_some(),
    })
}

/// Throughput against cost for every cell with a known cost.
fn pareto_plot(plan: &Plan, out: &[CellOutput]) -> Option<ParetoPlot> {
    let (pts, _) = pareto_points(plan, out);
    if pts.is_empty() {
        return None;
    }
    let (cost_axis, unit) = match plan.report.cost {
        CostBasis::Hourly => ("cost", "USD/hour"),
        CostBasis::Purchase => ("purchase cost", "USD"),
    };
    let title = match plan.report.exposed_limit_us {
        Some(l) => format!(
            "throughput against cost ({} <= {l} us)",
            plan.report.exposed
        ),
        None => "throughput against cost".to_string(),
    };
    Some(ParetoPlot {
        title,
        cost: Axis::new(cost_axis, unit),
        throughput: Axis::new(plan.report.throughput.clone(), "tokens/s"),
        points: pts,
    })
}

/// Hidden and exposed latency per category, one bar group per cell (small sweeps).
fn hidden_exposed_bars(plan: &Plan, out: &[CellOutput]) -> Option<HiddenExposedBars> {
    let with_cats = out.iter().filter(|o| !o.categories.is_empty()).count();
    if with_cats == 0 || plan.cells.len() > MAX_BAR_GROUPS {
        return None;
    }
    let groups = plan
        .cells
        .iter()
        .zip(out)
        .map(|(c, o)| BarGroup {
            label: c.params.join(" "),
            segments: o
                .categories
                .iter()
                .map(|s| BarSegment {
                    category: s.category.clone(),
                    hidden_s: s.hidden_us / 1e6,
                    exposed_s: s.exposed_us / 1e6,
                })
                .collect(),
        })
        .collect();
    Some(HiddenExposedBars {
        title: "hidden and exposed latency per category".into(),
        group_axis: plan.axes.join(" / "),
        groups,
    })
}

/// The CDF of per-step exposed latency, one line per cell (small sweeps).
fn exposed_cdf(plan: &Plan, out: &[CellOutput]) -> Option<Cdf> {
    let with_steps = out.iter().filter(|o| !o.step_exposed_us.is_empty()).count();
    if with_steps == 0 || plan.cells.len() > MAX_CDF_SERIES {
        return None;
    }
    let series = plan
        .cells
        .iter()
        .zip(out)
        .filter(|(_, o)| !o.step_exposed_us.is_empty())
        .map(|(c, o)| CdfSeries {
            name: c.params.join(" "),
            values_s: o.step_exposed_us.iter().map(|u| u / 1e6).collect(),
        })
        .collect();
    Some(Cdf {
        title: "exposed latency per step".into(),
        quantity: "exposed latency per step".into(),
        population: "steps".into(),
        series,
    })
}

/// Why the outputs could not be written.
#[derive(Debug, thiserror::Error)]
pub enum OutputsError {
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] OutputError),
    /// A plot could not be drawn or written.
    #[error("plot {stem}: {source}")]
    Plot { stem: String, source: PlotError },
}

/// The marker a sweep writes last, once every final output is in place.
pub const COMPLETE: &str = "COMPLETE";

/// Write every output into `dir`, then the [`COMPLETE`] marker naming each with its size;
/// returns the paths written. The marker of an earlier run is removed first, so outputs
/// without a marker are never mistaken for a finished set.
pub fn write_all(
    dir: &Path,
    plan: &Plan,
    out: &[CellOutput],
) -> Result<Vec<PathBuf>, OutputsError> {
    let marker = dir.join(COMPLETE);
    match std::fs::remove_file(&marker) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(OutputError {
                path: marker,
                source: e,
            }
            .into())
        }
        _ => {}
    }
    let mut written = write_outputs(dir, plan, out)?;
    write_atomic(&marker, complete_marker(dir, &written).as_bytes())?;
    written.push(marker);
    Ok(written)
}

/// `COMPLETE`'s text: one line per output, its path relative to `dir` and its size.
fn complete_marker(dir: &Path, written: &[PathBuf]) -> String {
    let mut t = String::from("# memwall sweep: every output below was written in full\n");
    for p in written {
        let size = std::fs::metadata(p).map_or(0, |m| m.len());
        let rel = p.strip_prefix(dir).unwrap_or(p);
        t.push_str(&format!("{} {size}\n", rel.display()));
    }
    t
}

fn write_outputs(
    dir: &Path,
    plan: &Plan,
    out: &[CellOutput],
) -> Result<Vec<PathBuf>, OutputsError> {
    let mut written = Vec::new();
    let mut put = |name: &str, bytes: &[u8]| -> Result<(), OutputsError> {
        let p = dir.join(name);
        write_atomic(&p, bytes)?;
        written.push(p);
        Ok(())
    };
    put("sweep.csv", &tidy_csv(plan, out))?;
    put("cells.csv", &wide_csv(plan, out))?;
    put("summary.json", summary_json(plan, out).as_bytes())?;
    let mut names = Vec::new();
    for (stem, plot) in plots(plan, out) {
        let p = dir.join("plots").join(&stem);
        plot.write(&p).map_err(|source| OutputsError::Plot {
            stem: stem.clone(),
            source,
        })?;
        for ext in ["png", "svg"] {
            names.push(format!("plots/{stem}.{ext}"));
            written.push(p.with_extension(ext));
        }
    }
    let md = summary_md(plan, out, &names);
    let p = dir.join("summary.md");
    write_atomic(&p, md.as_bytes())?;
    written.push(p);
    Ok(written)
}
