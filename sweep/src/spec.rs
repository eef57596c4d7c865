//! The sweep file: what to vary, over which base scenario, and what to report.
//!
//! ```toml
//! [sweep]
//! name = "engram-placement"
//! runner = "engram-fetch"          # which cell runner runs each scenario
//! scenario = "base.toml"           # optional base scenario, relative to this file
//! economics = "prices.toml"        # optional user economics (see examples/economics/)
//!
//! [base]                           # inline base scenario, merged over `scenario`
//! system = "hgx-h200"
//!
//! [[axis]]
//! key = "system"                   # a key path into the scenario
//! values = ["hgx-h200", "hgx-b200"]
//!
//! [[axis]]
//! key = "engram.placement"
//! values = ["host-dram", "nvme"]
//! zip = "tier"                     # axes sharing a zip name move together
//! ```
//!
//! Axes form a grid (first axis outermost); axes with the same `zip` name are one
//! dimension of it, walked in lockstep. Everything is checked here or in
//! [`crate::plan`] before any cell runs, and every error names the file and line.

use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A sweep-file error: file, line (1-based, when known), what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", location(file, *line))]
pub struct SweepError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl SweepError {
    pub fn new(file: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        SweepError {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

/// `file:line`, or `file` when the line is not known.
fn location(file: &Path, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{}:{l}", file.display()),
        None => file.display().to_string(),
    }
}

/// 1-based line of byte offset `at` in `text`.
pub fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    sweep: Spanned<RawSweep>,
    #[serde(default)]
    base: Option<Spanned<toml::Table>>,
    #[serde(default)]
    axis: Vec<Spanned<RawAxis>>,
    #[serde(default)]
    report: Option<RawReport>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    name: String,
    runner: Spanned<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    scenario: Option<Spanned<String>>,
    #[serde(default)]
    profiles: Vec<Spanned<String>>,
    #[serde(default)]
    economics: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAxis {
    key: Spanned<String>,
    values: Spanned<Vec<toml::Value>>,
    #[serde(default)]
    zip: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReport {
    #[serde(default)]
    throughput: Option<String>,
    #[serde(default)]
    exposed: Option<String>,
    #[serde(default)]
    exposed_limit: Option<Spanned<String>>,
    #[serde(default)]
    cost: Option<Spanned<String>>,
    #[serde(default)]
    chart: Vec<Spanned<RawChart>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChart {
    x: String,
    y: String,
    #[serde(default)]
    series: Option<String>,
    #[serde(default)]
    along: Option<String>,
    #[serde(default)]
    log_y: bool,
    #[serde(default)]
    log_x: bool,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    x_unit: Option<String>,
}

/// One swept key.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Dotted key path into the scenario (`engram.placement`).
    pub key: String,
    pub values: Vec<toml::Value>,
    /// Zip group: axes sharing one walk in lockstep.
    pub zip: Option<String>,
    /// Line of the axis's `key` in the sweep file.
    pub line: usize,
}

impl Axis {
    pub fn path(&self) -> Vec<&str> {
        self.key.split('.').collect()
    }
}

/// Which price the Pareto frontier and per-dollar figures use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CostBasis {
    /// USD per hour (rent, or amortised ownership), per node.
    Hourly,
    /// Purchase price, USD per node.
    Purchase,
}

/// A line chart of one metric against one axis, one line per value of another axis; or,
/// with `along`, of one metric against another, each line following a swept key (a
/// latency-throughput curve along the client concurrency).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChartSpec {
    pub x: String,
    pub y: String,
    pub series: Option<String>,
    /// The swept key each line follows; `x` is then a metric, not a swept key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub along: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub log_y: bool,
    pub log_x: bool,
    pub title: Option<String>,
    /// Unit of a swept `x` (a key's values carry none; the axis says "as swept" without
    /// it). Ignored with `along`, whose `x` metric has its own unit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x_unit: Option<String>,
}

/// What the report derives from the cells.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReportSpec {
    /// Metric that is throughput (tokens/s), for economics and the Pareto plot.
    pub throughput: String,
    /// Metric compared with `exposed_limit_us` (microseconds).
    pub exposed: String,
    pub exposed_limit_us: Option<f64>,
    pub cost: CostBasis,
    pub charts: Vec<ChartSpec>,
}

/// A parsed, checked sweep file.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    pub file: PathBuf,
    pub text: String,
    pub name: String,
    pub description: Option<String>,
    pub runner: String,
    pub runner_line: usize,
    /// The base scenario: the `scenario` file with `[base]` merged over it.
    pub base: toml::Table,
    /// Line of `[base]`, or of `scenario =`, for errors about keys that no axis sets.
    pub base_line: usize,
    pub axes: Vec<Axis>,
    pub profiles: Vec<PathBuf>,
    pub economics: Option<PathBuf>,
    pub report: ReportSpec,
}

/// Deep-merge `over` into `into` (tables merge, anything else replaces).
pub fn merge_tables(into: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (into.get_mut(k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge_tables(a, b),
            _ => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

impl SweepSpec {
    /// Read and check a sweep file.
    pub fn load(path: &Path) -> Result<SweepSpec, SweepError> {
        let text = memwall_io::input::read_to_string_capped(path)
            .map_err(|e| SweepError::new(path, None, format!("cannot read the sweep file: {e}")))?;
        Self::parse(path, &text)
    }

    /// Parse sweep text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<SweepSpec, SweepError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|s| line_of(text, s.start));
            SweepError::new(
                path,
                line,
                memwall_io::input::toml_message(e.message(), text, e.span().map(|s| s.start)),
            )
        })?;
        let at = |s: std::ops::Range<usize>| line_of(text, s.start);
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let sweep_line = at(raw.sweep.span());
        let sw = raw.sweep.into_inner();
        if sw.name.trim().is_empty() {
            return Err(SweepError::new(
                path,
                Some(sweep_line),
                "[sweep] name is empty: give the sweep a name",
            ));
        }
        let runner_line = at(sw.runner.span());
        let (base, base_line) = base_scenario(path, text, &dir, &sw, raw.base, sweep_line)?;
        let axes = parse_axes(path, text, raw.axis)?;
        check_zips(path, &axes)?;
        let profiles = sw.profiles.iter().map(|p| dir.join(p.get_ref())).collect();
        let economics = sw.economics.as_ref().map(|p| dir.join(p.get_ref()));
        let report = parse_report(path, text, raw.report, &axes)?;
        Ok(SweepSpec {
            file: path.to_path_buf(),
            text: text.to_string(),
            name: sw.name,
            description: sw.description,
            runner: sw.runner.into_inner(),
            runner_line,
            base,
            base_line,
            axes,
            profiles,
            economics,
            report,
        })
    }
}

/// The base scenario (the `scenario` file with `[base]` merged over it) and the line
/// that errors about it point at.
fn base_scenario(
    path: &Path,
    text: &str,
    dir: &Path,
    sw: &RawSweep,
    inline: Option<Spanned<toml::Table>>,
    sweep_line: usize,
) -> Result<(toml::Table, usize), SweepError> {
    let mut base = toml::Table::new();
    let mut base_line = sweep_line;
    if let Some(s) = &sw.scenario {
        let p = dir.join(s.get_ref());
        base_line = line_of(text, s.span().start);
        let t = memwall_io::input::read_to_string_capped(&p).map_err(|e| {
            SweepError::new(
                path,
                Some(base_line),
                format!("cannot read scenario {}: {e}", p.display()),
            )
        })?;
        base = t.parse::<toml::Table>().map_err(|e| {
            let line = e.span().map(|s| line_of(&t, s.start));
            SweepError::new(
                &p,
                line,
                memwall_io::input::toml_message(e.message(), &t, e.span().map(|s| s.start)),
            )
        })?;
    }
    if let Some(b) = &inline {
        base_line = line_of(text, b.span().start);
        merge_tables(&mut base, b.get_ref());
    }
    Ok((base, base_line))
}

/// The `[[axis]]` tables: key paths, each swept once, each with values.
fn parse_axes(
    path: &Path,
    text: &str,
    raw: Vec<Spanned<RawAxis>>,
) -> Result<Vec<Axis>, SweepError> {
    let mut axes: Vec<Axis> = Vec::new();
    for a in raw {
        let a = a.into_inner();
        let line = line_of(text, a.key.span().start);
        let key = a.key.into_inner();
        if key.is_empty() || key.split('.').any(|p| p.trim().is_empty()) {
            return Err(SweepError::new(
                path,
                Some(line),
                format!("axis key {key:?} is not a key path: write e.g. \"engram.placement\""),
            ));
        }
        if let Some(prev) = axes.iter().find(|x| x.key == key) {
            return Err(SweepError::new(
                path,
                Some(line),
                format!(
                    "axis {key:?} is swept twice (first on line {}): merge the values into one axis",
                    prev.line
                ),
            ));
        }
        let vline = line_of(text, a.values.span().start);
        let values = a.values.into_inner();
        if values.is_empty() {
            return Err(SweepError::new(
                path,
                Some(vline),
                format!("axis {key:?} has no values: give at least one, or remove the axis"),
            ));
        }
        axes.push(Axis {
            key,
            values,
            zip: a.zip,
            line,
        });
    }
    Ok(axes)
}

/// Axes of one zip group have equal lengths.
fn check_zips(path: &Path, axes: &[Axis]) -> Result<(), SweepError> {
    for (i, a) in axes.iter().enumerate() {
        let Some(z) = &a.zip else { continue };
        if let Some(first) = axes[..i].iter().find(|b| b.zip.as_ref() == Some(z)) {
            if first.values.len() != a.values.len() {
                return Err(SweepError::new(
                    path,
                    Some(a.line),
                    format!(
                        "axis {:?} has {} values but {:?} (line {}) in zip group {z:?} has {}: zipped axes walk together and need equal lengths",
                        a.key,
                        a.values.len(),
                        first.key,
                        first.line,
                        first.values.len()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One `[[report.chart]]`: its `x` (or, with `along`, `along`) and `series` must be
/// swept keys.
fn parse_chart(
    path: &Path,
    text: &str,
    c: Spanned<RawChart>,
    axes: &[Axis],
) -> Result<ChartSpec, SweepError> {
    let line = line_of(text, c.span().start);
    let c = c.into_inner();
    let swept_x = c.along.as_ref().unwrap_or(&c.x);
    for k in std::iter::once(swept_x).chain(c.series.as_ref()) {
        if !axes.iter().any(|a| &a.key == k) {
            let keys: Vec<&str> = axes.iter().map(|a| a.key.as_str()).collect();
            return Err(SweepError::new(
                path,
                Some(line),
                format!(
                    "chart axis {k:?} is not a swept key; swept keys: {}",
                    keys.join(", ")
                ),
            ));
        }
    }
    Ok(ChartSpec {
        x: c.x,
        y: c.y,
        series: c.series,
        along: c.along,
        log_y: c.log_y,
        log_x: c.log_x,
        title: c.title,
        x_unit: c.x_unit,
    })
}

/// The `[report]` table, with defaults for what it leaves out.
fn parse_report(
    path: &Path,
    text: &str,
    raw: Option<RawReport>,
    axes: &[Axis],
) -> Result<ReportSpec, SweepError> {
    let raw = raw.unwrap_or(RawReport {
        throughput: None,
        exposed: None,
        exposed_limit: None,
        cost: None,
        chart: Vec::new(),
    });
    let exposed_limit_us = match &raw.exposed_limit {
        None => None,
        Some(s) => {
            let ps = memwall_models::units::parse_time_ps(s.get_ref()).map_err(|e| {
                SweepError::new(
                    path,
                    Some(line_of(text, s.span().start)),
                    format!(
                        "report.exposed_limit {:?}: {e} (write a duration with its unit, e.g. \"20 us\")",
                        s.get_ref()
                    ),
                )
            })?;
            Some(ps as f64 / 1e6)
        }
    };
    let cost = match &raw.cost {
        None => CostBasis::Hourly,
        Some(s) => match s.get_ref().as_str() {
            "hourly" => CostBasis::Hourly,
            "purchase" => CostBasis::Purchase,
            other => {
                return Err(SweepError::new(
                    path,
                    Some(line_of(text, s.span().start)),
                    format!("report.cost {other:?} is not known: write \"hourly\" or \"purchase\""),
                ))
            }
        },
    };
    let charts = raw
        .chart
        .into_iter()
        .map(|c| parse_chart(path, text, c, axes))
        .collect::<Result<_, _>>()?;
    Ok(ReportSpec {
        throughput: raw.throughput.unwrap_or_else(|| "throughput".into()),
        exposed: raw.exposed.unwrap_or_else(|| "exposed_p99".into()),
        exposed_limit_us,
        cost,
        charts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<SweepSpec, SweepError> {
        SweepSpec::parse(Path::new("s.toml"), t)
    }

    #[test]
    fn unknown_key_names_its_line() {
        let e = parse("[sweep]\nname = \"a\"\nrunner = \"r\"\n\n[[axis]]\nkey = \"x\"\nvalues = [1]\nvalus = [2]\n")
            .unwrap_err();
        assert_eq!(e.line, Some(8), "{e}");
        assert!(e.message.contains("valus"), "{e}");
    }

    #[test]
    fn empty_axis_names_its_line() {
        let e =
            parse("[sweep]\nname = \"a\"\nrunner = \"r\"\n[[axis]]\nkey = \"x\"\nvalues = []\n")
                .unwrap_err();
        assert_eq!(e.line, Some(6), "{e}");
        assert!(e.message.contains("no values"));
    }

    #[test]
    fn zip_lengths_must_match() {
        let e = parse("[sweep]\nname = \"a\"\nrunner = \"r\"\n[[axis]]\nkey = \"x\"\nvalues = [1,2]\nzip = \"z\"\n[[axis]]\nkey = \"y\"\nvalues = [1]\nzip = \"z\"\n")
            .unwrap_err();
        assert_eq!(e.line, Some(9), "{e}");
    }

    #[test]
    fn a_curve_follows_a_swept_key_and_its_x_is_a_metric() {
        let head =
            "[sweep]\nname = \"a\"\nrunner = \"r\"\n[[axis]]\nkey = \"c\"\nvalues = [1, 2]\n";
        let ok = parse(&format!(
            "{head}[[report.chart]]\nx = \"tput\"\ny = \"lat\"\nalong = \"c\"\nlog_y = true\n"
        ))
        .unwrap();
        let ch = &ok.report.charts[0];
        assert_eq!((ch.along.as_deref(), ch.log_y), (Some("c"), true));
        let e = parse(&format!(
            "{head}[[report.chart]]\nx = \"tput\"\ny = \"lat\"\nalong = \"d\"\n"
        ))
        .unwrap_err();
        assert_eq!(e.line, Some(7), "{e}");
        assert!(e.message.contains("\"d\" is not a swept key"), "{e}");
    }

    #[test]
    fn base_merges_and_limit_parses() {
        let s = parse("[sweep]\nname = \"a\"\nrunner = \"r\"\n[base]\nsystem = \"x\"\n[base.e]\nk = 1\n[report]\nexposed_limit = \"20 us\"\ncost = \"purchase\"\n")
            .unwrap();
        assert_eq!(s.base["e"]["k"].as_integer(), Some(1));
        assert_eq!(s.report.exposed_limit_us, Some(20.0));
        assert_eq!(s.report.cost, CostBasis::Purchase);
        assert_eq!(s.base_line, 4);
    }
}
