//! `memwall run [SCENARIO]`: serve a scenario (a file, or a shipped one by name) and
//! print where the Engram latency went and the request latency percentiles. With no
//! argument it runs the shipped `default` (DeepSeek-V4.1-Flash on the H800 node, both
//! Engram tables in pinned host DRAM). `--out DIR` also writes the per-request CSV, the
//! JSON summary, the step CSVs and the plots (docs/csv-schema.md, "memwall run --out").

use crate::scenarios;
use anyhow::Context;
use clap::Args;
use memwall_io::paths::{check_outputs, Named};
use memwall_reports::output::write_atomic;
use memwall_reports::plots::{
    Axis, BarGroup, BarSegment, Cdf, CdfSeries, HiddenExposedBars, Panel, Plot, Series, TimeLines,
};
use memwall_serve::{
    batches_csv, requests_csv, run_scenario_with, step_csv, summary_csv, summary_json,
    summary_text, BatchRow, RunOptions, RunResult, Scenario,
};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct RunArgs {
    /// Scenario file (TOML; see scenarios/README.md), or a shipped scenario's name
    /// (`default`, `engram-paper-h800`). Default: `default`.
    pub scenario: Option<String>,
    /// Write the per-request CSV, summary.json, the step CSVs and the plots into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write the per-step x Engram-layer CSV here.
    #[arg(long)]
    pub steps_csv: Option<PathBuf>,
    /// Write the long-format summary CSV here.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Goodput's time-to-first-token objective (e.g. "2 s"; overrides [metrics] slo_ttft).
    #[arg(long, value_name = "TIME")]
    pub slo_ttft: Option<String>,
    /// Goodput's time-per-output-token objective (e.g. "50 ms"; overrides slo_tpot).
    #[arg(long, value_name = "TIME")]
    pub slo_tpot: Option<String>,
    #[command(flatten)]
    pub inputs: super::inputs::Inputs,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run even when the estimate of memory or time is past the budget (2 GiB, 1 hour).
    #[arg(long)]
    pub force: bool,
}

/// The files `--out DIR` holds (plots as `<stem>.png` and `<stem>.svg`).
const OUT_FILES: [&str; 5] = [
    "requests.csv",
    "summary.json",
    "summary.csv",
    "steps.csv",
    "batches.csv",
];
const OUT_PLOTS: [&str; 4] = ["ttft-cdf", "tpot-cdf", "engram-layers", "batch-timeline"];

pub fn run(a: RunArgs) -> anyhow::Result<()> {
    let mut s = scenarios::load(a.scenario.as_deref().unwrap_or(scenarios::DEFAULT))?;
    if let Some(seed) = a.seed {
        s.seed = seed;
    }
    slo_overrides(&a, &mut s)?;
    check_paths(&a, &s)?;
    let (reg, models) = a.inputs.registries(&[])?;
    let gpus = reg.system(&s.system).map_or(8, |sys| sys.node.gpus.len());
    let est = memwall_serve::limits::estimate(&s, gpus);
    est.check(
        &s.origin,
        a.force,
        "lower [workload] requests or output_tokens, or raise [engine] max_num_seqs",
    )?;
    if est.seconds > 10.0 && std::io::stderr().is_terminal() {
        eprintln!("{}: running ({})...", s.origin, est.describe());
    }
    // Step rows only when a file wants them (memory grows with the steps).
    let opt = RunOptions {
        step_rows: a.out.is_some() || a.steps_csv.is_some(),
    };
    let r = run_scenario_with(&s, &reg, &models, opt)?;
    print!("{}", summary_text(&r));
    if let Some(p) = &a.steps_csv {
        write_atomic(p, &step_csv(&r)).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &a.csv {
        write_atomic(p, &summary_csv(&r)).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(dir) = &a.out {
        write_out(dir, &r)?;
        println!("  wrote {}", dir.display());
    }
    Ok(())
}

/// `--slo-ttft` and `--slo-tpot`, checked here (the error names the flag), replace the
/// scenario's objectives.
fn slo_overrides(a: &RunArgs, s: &mut Scenario) -> anyhow::Result<()> {
    for (flag, v, field) in [
        ("--slo-ttft", &a.slo_ttft, &mut s.metrics.slo_ttft),
        ("--slo-tpot", &a.slo_tpot, &mut s.metrics.slo_tpot),
    ] {
        if let Some(v) = v {
            memwall_models::units::parse_time_ps(v)
                .map_err(|e| anyhow::anyhow!("{flag} {v:?}: {}\nhint: {}", e.message, e.hint))?;
            *field = Some(v.clone());
        }
    }
    Ok(())
}

/// No output may overwrite the scenario, its request file, the profiles or models given,
/// or another output.
fn check_paths(a: &RunArgs, s: &Scenario) -> anyhow::Result<()> {
    let mut inputs = vec![Named::new("SCENARIO", &s.origin)];
    let files = memwall_serve::requests::input_files(s);
    inputs.extend(files.iter().map(|p| Named::new("[workload] file", p)));
    inputs.extend(
        a.inputs
            .profiles
            .iter()
            .map(|p| Named::new("--profiles", p)),
    );
    inputs.extend(a.inputs.models.iter().map(|p| Named::new("--models", p)));
    let mut outputs = Vec::new();
    outputs.extend(a.csv.iter().map(|p| Named::new("--csv", p)));
    outputs.extend(a.steps_csv.iter().map(|p| Named::new("--steps-csv", p)));
    if let Some(dir) = &a.out {
        outputs.push(Named::new("--out", dir));
        let plots = OUT_PLOTS
            .iter()
            .flat_map(|p| [format!("{p}.png"), format!("{p}.svg")]);
        let names: Vec<String> = OUT_FILES
            .iter()
            .map(|f| f.to_string())
            .chain(plots)
            .collect();
        outputs.extend(names.iter().map(|f| Named::new("--out", dir.join(f))));
    }
    Ok(check_outputs(&inputs, &outputs)?)
}

/// Everything `--out DIR` holds, each file written atomically.
fn write_out(dir: &Path, r: &RunResult) -> anyhow::Result<()> {
    let files: [(&str, Vec<u8>); 5] = [
        ("requests.csv", requests_csv(r)),
        ("summary.json", summary_json(r)),
        ("summary.csv", summary_csv(r)),
        ("steps.csv", step_csv(r)),
        ("batches.csv", batches_csv(r)),
    ];
    for (name, bytes) in files {
        let p = dir.join(name);
        write_atomic(&p, &bytes).with_context(|| format!("writing {}", p.display()))?;
    }
    for (name, cdf) in latency_cdfs(r) {
        cdf.write(&dir.join(name))?;
    }
    if let Some(bars) = engram_bars(r) {
        bars.write(&dir.join("engram-layers"))?;
    }
    if let Some(t) = batch_timeline(&r.batches) {
        t.write(&dir.join("batch-timeline"))?;
    }
    Ok(())
}

/// TTFT and TPOT CDFs of the measured requests (none when no request has a value).
fn latency_cdfs(r: &RunResult) -> Vec<(&'static str, Cdf)> {
    let m = r.requests.iter().filter(|q| q.measured);
    let ttft: Vec<f64> = m.clone().map(|q| q.ttft().as_secs_f64()).collect();
    let tpot: Vec<f64> = m.filter_map(|q| q.tpot_s()).collect();
    let label = format!("{} on {}", r.model, r.system);
    [
        ("ttft-cdf", "time to first token", ttft),
        ("tpot-cdf", "time per output token", tpot),
    ]
    .into_iter()
    .filter(|(_, _, v)| !v.is_empty())
    .map(|(file, what, values_s)| {
        let cdf = Cdf {
            title: format!("{what} ({}, {} requests)", r.scenario, values_s.len()),
            quantity: what.into(),
            population: "requests".into(),
            series: vec![CdfSeries {
                name: label.clone(),
                values_s,
            }],
        };
        (file, cdf)
    })
    .collect()
}

/// Hidden and exposed Engram fetch latency per Engram layer (none without Engram).
fn engram_bars(r: &RunResult) -> Option<HiddenExposedBars> {
    let layers = &r.with_engram.layers;
    (!layers.is_empty()).then(|| HiddenExposedBars {
        title: format!(
            "Engram fetch latency per layer ({})",
            r.placement.as_deref().unwrap_or("none")
        ),
        group_axis: "Engram layer".into(),
        groups: layers
            .iter()
            .map(|l| BarGroup {
                label: format!("layer {}", l.layer),
                segments: vec![BarSegment {
                    category: "engram-fetch".into(),
                    hidden_s: l.hidden.as_secs_f64(),
                    exposed_s: l.exposed.as_secs_f64(),
                }],
            })
            .collect(),
    })
}

/// Points drawn per time line at most: steps are averaged over equal spans of time.
const TIMELINE_POINTS: usize = 1000;

/// Batch size, waiting requests and KV-cache use against time (none without steps).
fn batch_timeline(rows: &[BatchRow]) -> Option<TimeLines> {
    let first = rows.first()?;
    let last = rows.last()?;
    let t0 = first.start.as_secs_f64();
    let span = (last.start + last.duration).as_secs_f64() - t0;
    let bins = TIMELINE_POINTS.min(rows.len());
    // Per bin: time-weighted sums of (seqs, waiting, KV use %) and the time covered.
    let mut acc = vec![[0.0f64; 4]; bins];
    for b in rows {
        let x = (b.start.as_secs_f64() - t0) / span.max(f64::MIN_POSITIVE);
        let k = ((x * bins as f64) as usize).min(bins - 1);
        let w = b.duration.as_secs_f64().max(1e-12);
        let kv = 100.0 * b.kv_used as f64 / b.kv_capacity.max(1) as f64;
        for (a, v) in acc[k]
            .iter_mut()
            .zip([b.seqs as f64, b.waiting as f64, kv, 1.0])
        {
            *a += v * w;
        }
    }
    let series = |i: usize, name: &str| Series {
        name: name.into(),
        points: acc
            .iter()
            .enumerate()
            .filter(|(_, a)| a[3] > 0.0)
            .map(|(k, a)| (t0 + span * (k as f64 + 0.5) / bins as f64, a[i] / a[3]))
            .collect(),
    };
    Some(TimeLines {
        title: "batch and KV cache over the run".into(),
        x: Axis::new("simulated time", "s"),
        panels: vec![
            Panel {
                y: Axis::new("requests", "count"),
                series: vec![series(0, "in the batch"), series(1, "waiting")],
            },
            Panel {
                y: Axis::new("KV cache used", "%"),
                series: vec![series(2, "KV cache used")],
            },
        ],
    })
}
