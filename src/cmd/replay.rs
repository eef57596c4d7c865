//! `memwall replay TRACE [--system NAME]`: replay a PyTorch-profiler (Kineto) trace on a
//! hardware profile, with optional what-if transforms; print span, overlap and exposed
//! communication, and write a side-by-side Chrome trace and CSVs. See docs/replay.md.

use anyhow::{anyhow, bail, Context};
use clap::{Args, ValueEnum};
use memwall_io::paths::{check_outputs, Named};
use memwall_kineto::import_file;
use memwall_models::perf::HwRates;
use memwall_models::tiers::{known_names, TierConfig};
use memwall_models::{Registry, SystemSpec};
use memwall_replay::{
    default_system_for_gpu, gpu_profile_for_device, replay, EngramInsert, LaunchMode, MhcWiden,
    ReplayDeviceMetrics, ReplayOptions, ReplayOutput, Timing,
};
use memwall_reports::chrome_trace::{write_chrome_traces, TraceSide};
use memwall_reports::output::{csv_bytes, write_atomic};
use memwall_sim::Ps;
use std::path::PathBuf;

#[derive(Copy, Clone, ValueEnum)]
pub enum Launch {
    /// Where the trace was launch-bound (median launch-to-start below 50 us).
    Auto,
    /// On every device: each op starts no earlier than its CPU launch allows.
    Always,
    /// Nowhere: ops start as soon as their stream and dependencies allow.
    Never,
}

#[derive(Copy, Clone, ValueEnum)]
pub enum TimingArg {
    /// Recorded durations scaled by model or rate ratios, source to target.
    Ratio,
    /// Absolute times from the target's op cost model and collective model wherever the
    /// trace records the work (shapes, message sizes); recorded durations elsewhere.
    Model,
}

/// `--engram-placement`: a fetch tier by name (`host` and `host-dram` stay aliases of
/// `host-zero-copy`), its fields at their defaults.
fn parse_placement(name: &str) -> Result<TierConfig, String> {
    TierConfig::by_name(name).ok_or_else(|| format!("not a fetch tier; one of: {}", known_names()))
}

#[derive(Args)]
pub struct ReplayArgs {
    /// Kineto / Chrome-trace JSON file (gzip or plain).
    pub trace: PathBuf,
    /// System profile to replay on (default: the source hardware's own system).
    #[arg(long)]
    pub system: Option<String>,
    /// GPU profile the trace was captured on (default: from the trace's deviceProperties).
    #[arg(long, conflicts_with = "source_system")]
    pub source_gpu: Option<String>,
    /// System profile the trace was captured on (overrides --source-gpu's default system).
    #[arg(long)]
    pub source_system: Option<String>,
    /// Swap the target's NIC for this NIC profile.
    #[arg(long, value_name = "NIC")]
    pub network: Option<String>,
    /// Swap the target GPUs' host link for this link profile.
    #[arg(long, value_name = "LINK")]
    pub host_link: Option<String>,
    /// CPU launch times as release constraints.
    #[arg(long, value_enum, default_value_t = Launch::Auto)]
    pub launch: Launch,
    /// Where kernel times come from (docs/replay.md §2).
    #[arg(long, value_enum, default_value_t = TimingArg::Ratio)]
    pub timing: TimingArg,
    /// Widen the residual stream n-fold (mHC n).
    #[arg(long, value_name = "N")]
    pub mhc: Option<u32>,
    /// Insert Engram lookups before each layer starting at an op whose phase label or
    /// kernel name contains this text.
    #[arg(long, value_name = "TEXT")]
    pub engram_anchor: Option<String>,
    /// Only these layers (occurrences of the anchor, from 0), comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "K")]
    pub engram_layers: Option<Vec<usize>>,
    /// Rows per lookup.
    #[arg(long, default_value_t = 16384)]
    pub engram_rows: u64,
    /// Bytes per row (Engram V4.1: 264).
    #[arg(long, default_value_t = 264)]
    pub engram_row_bytes: u64,
    /// Where the table lives: a fetch tier (hbm, gpu-sharded, host-zero-copy, host-dma,
    /// nvme, cxl; `host` = host-zero-copy).
    #[arg(long, value_parser = parse_placement, default_value = "host-zero-copy")]
    pub engram_placement: TierConfig,
    /// Socket holding the host table (default: the GPU's own).
    #[arg(long)]
    pub engram_socket: Option<usize>,
    /// Issue each lookup this many main-stream ops before its layer (0: on demand).
    #[arg(long, default_value_t = 0)]
    pub engram_prefetch_ops: u32,
    /// Folder for replay.trace.json and the CSVs.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Extra profile files or folders that extend or override the shipped ones.
    #[arg(long = "profiles", value_name = "PATH")]
    pub user: Vec<PathBuf>,
    /// Run even when the estimate of memory or time is past the budget (2 GiB, 1 hour).
    #[arg(long)]
    pub force: bool,
}

fn system(reg: &Registry, name: &str) -> anyhow::Result<SystemSpec> {
    reg.system(name).map_err(|e| {
        anyhow!(
            "{}\n  hint: `memwall profiles list` shows the system profiles",
            e
        )
    })
}

/// Rates of the source hardware: a named system, a named GPU (in its usual system where
/// one is known), or the GPU named in the trace's deviceProperties.
fn source_rates(
    reg: &Registry,
    a: &ReplayArgs,
    trace_gpu: Option<&str>,
) -> anyhow::Result<(HwRates, Option<SystemSpec>)> {
    if let Some(s) = &a.source_system {
        let sys = system(reg, s)?;
        return Ok((HwRates::from_system(&sys), Some(sys)));
    }
    let gpu = match &a.source_gpu {
        Some(g) => g.clone(),
        None => {
            let name = trace_gpu.ok_or_else(|| {
                anyhow!(
                    "the trace has no deviceProperties naming its GPU: name the source hardware \
                     with --source-gpu or --source-system"
                )
            })?;
            gpu_profile_for_device(name)
                .ok_or_else(|| {
                    anyhow!(
                        "no GPU profile matches the trace's device `{name}`: name the source \
                         hardware with --source-gpu or --source-system (or add a profile)"
                    )
                })?
                .to_string()
        }
    };
    let spec = reg.gpu(&gpu).map_err(|e| {
        anyhow!(
            "{}\n  hint: `memwall profiles list` shows the GPU profiles",
            e
        )
    })?;
    match default_system_for_gpu(&spec.name) {
        Some(s) => {
            let sys = system(reg, s)?;
            Ok((HwRates::from_system(&sys), Some(sys)))
        }
        None => Ok((HwRates::from_gpu(&spec), None)),
    }
}

fn ms(ps: u64) -> String {
    format!("{}.{:06}", ps / 1_000_000_000, (ps % 1_000_000_000) / 1000)
}

fn pct(num: u64, den: u64) -> String {
    if den == 0 {
        "0.00".into()
    } else {
        let bp = (num as u128 * 10_000 + den as u128 / 2) / den as u128;
        format!("{}.{:02}", bp / 100, bp % 100)
    }
}

pub fn run(a: ReplayArgs) -> anyhow::Result<()> {
    check_paths(&a)?;
    check_budget(&a)?;
    let reg = Registry::with_user_paths(&a.user)?;
    let g = import_file(&a.trace).map_err(|e| anyhow!("{e}"))?;
    let (source, source_sys) = source_rates(&reg, &a, g.meta.gpu_name.as_deref())?;
    let target = target_system(&reg, &a, &source, source_sys.clone())?;
    if a.mhc == Some(0) {
        bail!("--mhc must be at least 1 (mHC uses n = 4)");
    }
    let engram = a.engram_anchor.as_ref().map(|anchor| EngramInsert {
        anchor: anchor.clone(),
        layers: a.engram_layers.clone(),
        rows: a.engram_rows,
        row_bytes: a.engram_row_bytes,
        placement: a.engram_placement.clone(),
        host_socket: a.engram_socket,
        prefetch_ops: a.engram_prefetch_ops,
    });
    let opts = ReplayOptions {
        source,
        source_system: source_sys,
        target,
        timing: match a.timing {
            TimingArg::Ratio => Timing::Ratio,
            TimingArg::Model => Timing::Model,
        },
        launch: match a.launch {
            Launch::Auto => LaunchMode::Auto,
            Launch::Always => LaunchMode::Always,
            Launch::Never => LaunchMode::Never,
        },
        mhc: a.mhc.map(|n| MhcWiden { n }),
        engram,
    };
    let progress = memwall_io::progress::task("replaying", None, "");
    let out = replay(&g, &opts).map_err(|e| anyhow!("{}: {e}", a.trace.display()))?;
    drop(progress);
    print!("{}", summary_text(&out));
    if opts.timing == Timing::Model {
        let (model, all) = out.model_share_ns();
        println!(
            "kernel time from the model: {} of {} ms ({}%); the rest from recorded durations",
            ms(model.max(0) as u64 * 1000),
            ms(all.max(0) as u64 * 1000),
            pct(model.max(0) as u64, all.max(0) as u64)
        );
    }
    if let Some(dir) = &a.out {
        write_outputs(&out, dir).with_context(|| format!("writing to {}", dir.display()))?;
        println!("wrote {}/replay.trace.json and replay-*.csv", dir.display());
    }
    Ok(())
}

/// The trace's estimate within the budget unless `--force` (`memwall_replay::limits`),
/// before it is imported; its length is counted only up to the budget.
fn check_budget(a: &ReplayArgs) -> anyhow::Result<()> {
    if a.force {
        return Ok(());
    }
    let budget = memwall_models::budget::memory_budget();
    let stop = memwall_replay::limits::max_json_bytes(budget).saturating_add(1);
    let len = memwall_kineto::document_len(&a.trace, stop).map_err(|e| anyhow!("{e}"))?;
    let what = a.trace.display().to_string();
    memwall_replay::limits::estimate(len).check(&what, false, "replay a shorter capture")?;
    Ok(())
}

/// The system to replay on: `--system`, else the source's own; with `--network` and
/// `--host-link` swapped in (each named in the system's name).
fn target_system(
    reg: &Registry,
    a: &ReplayArgs,
    source: &HwRates,
    source_sys: Option<SystemSpec>,
) -> anyhow::Result<SystemSpec> {
    let mut target = match (&a.system, source_sys) {
        (Some(s), _) => system(reg, s)?,
        (None, Some(s)) => s,
        (None, None) => bail!(
            "the source GPU `{}` has no default system: name the target with --system",
            source.name
        ),
    };
    if let Some(n) = &a.network {
        let nic = reg.nic(n)?;
        if target.node.nic.is_none() {
            bail!(
                "system `{}` has no NICs to swap: pick a system with scale-out NICs",
                target.name
            );
        }
        target.node.nic = Some(nic);
        target.name = format!("{}+{n}", target.name);
    }
    if let Some(l) = &a.host_link {
        let link = reg.link(l)?;
        target.node.gpu.host_link = link.clone();
        for gi in &mut target.node.gpus {
            gi.host_link = link.clone();
        }
        target.name = format!("{}+{l}", target.name);
    }
    Ok(target)
}

fn side_rows(side: &str, ms_: &[ReplayDeviceMetrics], rows: &mut Vec<Vec<String>>) {
    for m in ms_ {
        rows.push(vec![
            side.to_string(),
            m.device.to_string(),
            ms(m.span_ps),
            ms(m.compute_busy_ps),
            ms(m.comm_busy_ps),
            ms(m.hidden_ps),
            ms(m.exposed_ps),
            pct(m.hidden_ps, m.comm_busy_ps),
        ]);
    }
}

fn comm_rows(side: &str, ms_: &[ReplayDeviceMetrics], rows: &mut Vec<Vec<String>>) {
    for m in ms_ {
        for (cat, (busy, exposed)) in &m.comm_by_category {
            rows.push(vec![
                side.to_string(),
                m.device.to_string(),
                cat.clone(),
                ms(*busy),
                ms(*exposed),
            ]);
        }
    }
}

/// The terminal summary.
pub fn summary_text(out: &ReplayOutput) -> String {
    let mut s = format!("replay of {} on {}\n", out.source, out.target);
    s +=
        "side      dev  span_ms      compute_ms   comm_ms      hidden_ms    exposed_ms   hidden%\n";
    let mut rows = Vec::new();
    side_rows("original", &out.original_metrics, &mut rows);
    side_rows("replay", &out.metrics, &mut rows);
    for r in rows {
        s += &format!(
            "{:<9} {:>3}  {:<12} {:<12} {:<12} {:<12} {:<12} {}\n",
            r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]
        );
    }
    s += "exposed communication per category (ms, interval metric):\n";
    let mut rows = Vec::new();
    comm_rows("original", &out.original_metrics, &mut rows);
    comm_rows("replay", &out.metrics, &mut rows);
    for r in rows {
        s += &format!(
            "  {:<9} dev {:>2} {:<16} busy {:<12} exposed {}\n",
            r[0], r[1], r[2], r[3], r[4]
        );
    }
    s += &format!(
        "added: {} launch releases, {} host gaps, {} inferred cross-stream waits, {} Engram lookups\n",
        out.launch_releases, out.host_gaps, out.inferred_waits, out.engram_lookups
    );
    s
}

/// The files `--out DIR` receives.
const OUTPUTS: [&str; 5] = [
    "replay.trace.json",
    "replay-summary.csv",
    "replay-comm.csv",
    "replay-attribution.csv",
    "replay-scaling.csv",
];

/// `--out`'s files may not overwrite the trace or the profiles given.
fn check_paths(a: &ReplayArgs) -> anyhow::Result<()> {
    let Some(dir) = &a.out else {
        return Ok(());
    };
    let mut inputs = vec![Named::new("TRACE", &a.trace)];
    inputs.extend(a.user.iter().map(|p| Named::new("--profiles", p)));
    let outputs: Vec<Named> = OUTPUTS
        .iter()
        .map(|f| Named::new("--out", dir.join(f)))
        .collect();
    Ok(check_outputs(&inputs, &outputs)?)
}

/// replay.trace.json (recorded and replayed side by side) and the replay-*.csv files;
/// every CSV is built before the first file is written.
fn write_outputs(out: &ReplayOutput, dir: &std::path::Path) -> anyhow::Result<()> {
    let orig_name = format!("original ({})", out.source);
    let sim_name = format!("replay on {}", out.target);
    let csvs = csv_outputs(out);
    write_chrome_traces(
        &dir.join(OUTPUTS[0]),
        &[
            TraceSide {
                process_name: &orig_name,
                timeline: &out.original,
            },
            TraceSide {
                process_name: &sim_name,
                timeline: &out.timeline,
            },
        ],
    )?;
    for (name, bytes) in OUTPUTS[1..].iter().zip(csvs) {
        write_atomic(&dir.join(name), &bytes)?;
    }
    Ok(())
}

/// The bytes of replay-summary, -comm, -attribution and -scaling.csv, in that order.
fn csv_outputs(out: &ReplayOutput) -> [Vec<u8>; 4] {
    let mut rows = Vec::new();
    side_rows("original", &out.original_metrics, &mut rows);
    side_rows("replay", &out.metrics, &mut rows);
    let summary = csv_bytes(
        &[
            "side",
            "device",
            "span_ms",
            "compute_busy_ms",
            "comm_busy_ms",
            "comm_hidden_ms",
            "comm_exposed_ms",
            "comm_hidden_pct",
        ],
        rows,
    );
    let mut rows = Vec::new();
    comm_rows("original", &out.original_metrics, &mut rows);
    comm_rows("replay", &out.metrics, &mut rows);
    let comm = csv_bytes(
        &["side", "device", "category", "busy_ms", "exposed_ms"],
        rows,
    );
    let attribution = csv_bytes(
        &["category", "ops", "latency_ms", "hidden_ms", "exposed_ms"],
        attribution_rows(out),
    );
    let scaling = csv_bytes(
        &["class", "scaling", "ops", "source_ms", "target_ms"],
        scaling_rows(out),
    );
    [summary, comm, attribution, scaling]
}

/// Hidden/exposed per category of the replay by blocker attribution (DESIGN.md §3).
fn attribution_rows(out: &ReplayOutput) -> Vec<Vec<String>> {
    let tl = &out.timeline;
    let at = memwall_sim::attribute(tl, (Ps::ZERO, tl.makespan()));
    at.by_category(tl)
        .into_iter()
        .map(|(name, t)| {
            vec![
                name,
                t.ops.to_string(),
                ms(t.latency.0),
                ms(t.hidden.0),
                ms(t.exposed.0),
            ]
        })
        .collect()
}

/// Recorded and re-timed totals per op class and scaling rule.
fn scaling_rows(out: &ReplayOutput) -> Vec<Vec<String>> {
    out.scaling
        .iter()
        .map(|r| {
            vec![
                r.class.clone(),
                r.scaling.clone(),
                r.ops.to_string(),
                ms(r.source_ns.max(0) as u64 * 1000),
                ms(r.target_ns.max(0) as u64 * 1000),
            ]
        })
        .collect()
}
