//! `memwall train`: one pipeline-parallel training step (DualPipe, DualPipeV, 1F1B or
//! ZB1P) with expert all-to-all, pipeline P2P and mHC on one or more systems. Writes, per
//! system, the per-rank timeline, per-rank accounts (busy, bubble, exposed per category,
//! memory), per-category totals and a Gantt plot of the rank streams (`gantt.png`,
//! `gantt.svg`); with several systems also `systems.csv`. Hardware comes from the system
//! profiles (shipped, or extended with `--profiles`), the model from the model configs
//! (shipped, or extended with `--models`, or a path in the training config).

use std::path::PathBuf;

use clap::Args;
use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_reports::output::{csv_bytes, write_atomic};
use memwall_reports::plots::{Gantt, GanttOptions, Plot};
use memwall_sim::{attribute, Attribution, Ps, Timeline};
use memwall_train as training;
use memwall_train::{config::parse_schedule, Plan, TrainConfig, TrainHw, TrainRun};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Shipped training config name (e.g. `deepseek-v3-h800`, the default) or the path to
    /// a training config TOML (a relative `model = "..."` path in it is taken from its
    /// folder).
    #[arg(long, value_name = "NAME|PATH")]
    pub config: Option<String>,
    /// System profile(s), comma separated (default: the config's); `memwall profiles list`
    /// shows them (deepseek-h800-cluster, dgx-h100, hgx-h200, hgx-b200, gb200-nvl72,
    /// gb300-nvl72, vr200-nvl72, ...).
    #[arg(long)]
    pub system: Option<String>,
    /// mHC expansion rate (0 = off; default: the config's / the model's).
    #[arg(long)]
    pub mhc: Option<u64>,
    /// Schedule: dualpipe, dualpipev, 1f1b, zb1p.
    #[arg(long)]
    pub schedule: Option<String>,
    /// Pipeline-parallel stages (default: the config's).
    #[arg(long)]
    pub pp: Option<u32>,
    /// Micro-batches per step (default: the config's; the global batch becomes dp x this
    /// x the micro-batch tokens).
    #[arg(long)]
    pub micro_batches: Option<u32>,
    /// mHC kernels fused (true) or the unfused HC site (false) (default: the config's).
    #[arg(long, value_name = "true|false")]
    pub mhc_fused: Option<bool>,
    /// V4's adjusted DualPipe overlap for mHC (default: the config's).
    #[arg(long, value_name = "true|false")]
    pub mhc_overlap: Option<bool>,
    /// Recompute policy: none or mhc-block (V4's selective recompute of mHC hidden states
    /// and normalised layer inputs; default: the config's).
    #[arg(long)]
    pub recompute: Option<String>,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// Skip the per-op timeline CSV (large for big steps).
    #[arg(long)]
    pub no_timeline: bool,
    #[command(flatten)]
    pub inputs: super::inputs::Inputs,
    /// Run even when the estimate of memory or time is past the budget (2 GiB, 1 hour).
    #[arg(long)]
    pub force: bool,
    /// Whole-cluster mode: the system's whole [cluster] wired (PCIe, NICs, leaves,
    /// spines, NVLink), the all-to-all, pipeline and data-parallel traffic as
    /// per-GPU-pair flows over it; a rank is one EP group (docs/training.md).
    #[arg(long)]
    pub whole_cluster: bool,
}

/// Ops drawn in the Gantt plot: a whole default step (75,360 ops) fits; bigger steps are
/// drawn from their start up to this many ops (the title says so).
const GANTT_MAX_OPS: usize = 100_000;

const CATS: [&str; 4] = ["pp-p2p", "ep-dispatch", "ep-combine", "mhc-hbm"];

fn ms(p: Ps) -> String {
    format!("{:.6}", p.as_ms_f64())
}

/// Exposed time per category name on one account, bubble, busy.
fn exposed_of(run: &TrainRun, a: &Attribution, stream_idx: usize, cat: &str) -> Ps {
    let tl = &run.timeline;
    a.streams[stream_idx]
        .exposed
        .iter()
        .filter(|(c, _)| tl.category(**c).name == cat)
        .map(|(_, p)| *p)
        .sum()
}

pub fn run(args: TrainArgs) -> anyhow::Result<()> {
    let cfg = config(&args)?;
    let systems = system_names(&args, &cfg)?;
    // Resolve everything before writing anything.
    let (reg, models) = args.inputs.registries(&[])?;
    let est = check_budget(&args, &cfg, &models, systems.len())?;
    let plans = systems
        .iter()
        .map(|s| {
            let hw = TrainHw::resolve(&reg, s, &cfg.reference.gpu)?;
            let plan = training::plan(&cfg, &hw, &models)?;
            training::check_memory(&plan)?;
            Ok::<_, training::TrainError>(plan)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut summary = Vec::new();
    for plan in &plans {
        let dir = if plans.len() > 1 {
            args.out.join(&plan.hw.name)
        } else {
            args.out.clone()
        };
        let label = format!("training step on {} ({})", plan.hw.name, est.describe());
        let _progress = memwall_io::progress::task(&label, None, "");
        let whole = args.whole_cluster.then_some((&reg, &models));
        summary.push(run_system(&cfg, plan, &dir, !args.no_timeline, whole)?);
    }
    if plans.len() > 1 {
        let names = systems_header();
        let header: Vec<&str> = names.iter().map(String::as_str).collect();
        write_atomic(&args.out.join("systems.csv"), &csv_bytes(&header, summary))?;
    }
    Ok(())
}

/// The training config (`--config` or the built-in default) with the command line's
/// overrides applied.
fn config(args: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let mut cfg = TrainConfig::resolve(args.config.as_deref().unwrap_or("deepseek-v3-h800"))?;
    if let Some(n) = args.mhc {
        cfg.mhc = Some(n);
    }
    if let Some(s) = &args.schedule {
        parse_schedule(s)?;
        cfg.schedule = s.clone();
    }
    if let Some(pp) = args.pp {
        cfg.pp = pp;
    }
    if let Some(n) = args.micro_batches {
        cfg.micro_batches = n;
        cfg.global_batch = None;
        cfg.sequence_length = None;
        cfg.batch_ramp = None;
    }
    if let Some(f) = args.mhc_fused {
        cfg.mhc_fused = f;
    }
    if let Some(o) = args.mhc_overlap {
        cfg.mhc_overlap = o;
    }
    if let Some(r) = &args.recompute {
        cfg.recompute = r.clone();
    }
    cfg.validate("command line")?;
    Ok(cfg)
}

/// The config's counts in range, and its estimate within the budget unless `--force`
/// (`memwall_train::limits`), before any schedule is built.
fn check_budget(
    args: &TrainArgs,
    cfg: &TrainConfig,
    models: &ModelRegistry,
    systems: usize,
) -> anyhow::Result<memwall_models::budget::Estimate> {
    let origin = args.config.as_deref().unwrap_or("deepseek-v3-h800");
    training::limits::check(cfg, origin)?;
    let layers = training::effective_model(cfg, models)?.num_layers;
    let mut est = training::limits::estimate(cfg, layers, systems, !args.no_timeline);
    if args.whole_cluster {
        est = training::limits::whole_cluster_estimate(est, cfg, layers);
    }
    est.check(
        origin,
        args.force,
        "lower --micro-batches (micro_batches), or pass --no-timeline (or drop --whole-cluster)",
    )?;
    Ok(est)
}

/// `--system` (comma separated), else the config's system.
fn system_names(args: &TrainArgs, cfg: &TrainConfig) -> anyhow::Result<Vec<String>> {
    let systems: Vec<String> = args
        .system
        .clone()
        .unwrap_or_else(|| cfg.system.clone())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if systems.is_empty() {
        anyhow::bail!("--system: give at least one system name");
    }
    Ok(systems)
}

/// One planned step on one system: writes its outputs to `dir`, prints its line, and
/// returns its row of `systems.csv`.
fn run_system(
    cfg: &TrainConfig,
    plan: &Plan,
    dir: &std::path::Path,
    timeline: bool,
    whole: Option<(&Registry, &ModelRegistry)>,
) -> anyhow::Result<Vec<String>> {
    let (plan, run) = match whole {
        Some((reg, models)) => {
            let w = training::cluster::step::run_for_config(cfg, plan, reg, models)?;
            (std::borrow::Cow::Owned(w.plan), w.run)
        }
        None => (std::borrow::Cow::Borrowed(plan), training::run_step(plan)?),
    };
    let plan = plan.as_ref();
    let hw = &plan.hw;
    let a = attribute(&run.timeline, (Ps::ZERO, run.step_time));
    let title = format!(
        "{} on {}: {} PP{} N{}{}",
        cfg.model,
        hw.name,
        cfg.schedule,
        cfg.pp,
        cfg.micro_batches,
        if plan.mhc_n > 1 {
            format!(", mHC n={}", plan.mhc_n)
        } else {
            String::new()
        }
    );
    write_outputs(dir, &run, &a, timeline, &title)?;
    write_breakdown(dir, cfg, plan, &run, &a)?;
    let ex = Exposure { run: &run, a: &a };
    let bubble = ex.mean_bubble();
    let mut row = vec![
        hw.name.clone(),
        cfg.schedule.clone(),
        cfg.pp.to_string(),
        cfg.micro_batches.to_string(),
        plan.mhc_n.to_string(),
        ms(run.step_time),
        run.mean_pair_slot().map(ms).unwrap_or_default(),
        ms(bubble),
    ];
    for c in CATS {
        row.push(ms(ex.mean(c)));
        row.push(ms(ex.max(c)));
    }
    row.push(run.dp_collectives());
    println!(
        "{}: step {:.3} ms, mean F&B slot {}, bubble {:.3} ms/rank; exposed per rank (mean): pp-p2p {:.3} ms, ep-dispatch {:.3} ms, ep-combine {:.3} ms, mhc-hbm {:.3} ms; DP collectives: {} -> {}",
        hw.name,
        run.step_time.as_ms_f64(),
        run.mean_pair_slot().map(|p| format!("{:.3} ms", p.as_ms_f64())).unwrap_or_else(|| "-".into()),
        bubble.as_ms_f64(),
        ex.mean("pp-p2p").as_ms_f64(),
        ex.mean("ep-dispatch").as_ms_f64(),
        ex.mean("ep-combine").as_ms_f64(),
        ex.mean("mhc-hbm").as_ms_f64(),
        run.dp_collectives(),
        dir.display()
    );
    Ok(row)
}

/// Exposed time and bubble over the ranks of one step.
struct Exposure<'a> {
    run: &'a TrainRun,
    a: &'a Attribution,
}

impl Exposure<'_> {
    fn ranks(&self) -> u64 {
        self.a.streams.len().max(1) as u64
    }

    /// Mean exposed time of category `cat` per rank.
    fn mean(&self, cat: &str) -> Ps {
        let sum: u64 = (0..self.a.streams.len())
            .map(|i| exposed_of(self.run, self.a, i, cat).0)
            .sum();
        Ps(sum / self.ranks())
    }

    /// Exposed time of category `cat` on the worst rank.
    fn max(&self, cat: &str) -> Ps {
        (0..self.a.streams.len())
            .map(|i| exposed_of(self.run, self.a, i, cat))
            .max()
            .unwrap_or(Ps::ZERO)
    }

    fn mean_bubble(&self) -> Ps {
        Ps(self.a.streams.iter().map(|s| s.bubble.0).sum::<u64>() / self.ranks())
    }
}

/// The columns of `systems.csv`.
fn systems_header() -> Vec<String> {
    let mut header: Vec<String> = [
        "system",
        "schedule",
        "pp",
        "micro_batches",
        "mhc_n",
        "step_ms",
        "mean_fb_slot_ms",
        "bubble_ms_per_rank",
    ]
    .map(String::from)
    .to_vec();
    for c in CATS {
        header.push(format!("{c}_exposed_ms_mean"));
        header.push(format!("{c}_exposed_ms_max"));
    }
    header.push("dp_collectives".into());
    header
}

/// Per system: timeline.csv (unless skipped), ranks.csv, categories.csv and the Gantt
/// plot.
fn write_outputs(
    dir: &std::path::Path,
    run: &TrainRun,
    a: &Attribution,
    timeline: bool,
    title: &str,
) -> anyhow::Result<()> {
    let tl = &run.timeline;
    if timeline {
        write_timeline(dir, tl)?;
    }
    write_ranks(dir, run, a)?;
    let rows = a.by_category(tl).into_iter().map(|(name, t)| {
        vec![
            name,
            t.ops.to_string(),
            t.bytes.to_string(),
            ms(t.latency),
            ms(t.exposed),
            ms(t.hidden),
        ]
    });
    write_atomic(
        &dir.join("categories.csv"),
        &csv_bytes(
            &[
                "category",
                "ops",
                "bytes",
                "latency_ms",
                "exposed_ms",
                "hidden_ms",
            ],
            rows,
        ),
    )?;
    let gantt = Gantt::new(
        tl,
        GanttOptions {
            title: title.to_string(),
            window: None,
            max_ops: GANTT_MAX_OPS,
        },
    );
    gantt
        .render()
        .and_then(|r| r.write(&dir.join("gantt")))
        .map_err(|e| anyhow::anyhow!("gantt plot: {e}"))?;
    Ok(())
}

/// breakdown.csv: per rank, the step split into [`training::CATEGORIES`] (seconds,
/// summing to the step); prints the mean over ranks and the step's cost per token.
fn write_breakdown(
    dir: &std::path::Path,
    cfg: &TrainConfig,
    plan: &Plan,
    run: &TrainRun,
    a: &Attribution,
) -> anyhow::Result<()> {
    let b = training::breakdown(plan, run, a);
    let secs = |p: Ps| format!("{:.6}", p.as_secs_f64());
    let rows = b.ranks.iter().enumerate().flat_map(|(r, row)| {
        training::CATEGORIES
            .iter()
            .zip(row)
            .map(move |(c, p)| vec![r.to_string(), c.to_string(), secs(*p)])
    });
    write_atomic(
        &dir.join("breakdown.csv"),
        &csv_bytes(&["rank", "category", "seconds"], rows),
    )?;
    let step = run.step_time.as_secs_f64();
    println!("{:<16} {:>10} {:>7}", "category", "s (mean)", "share");
    for (c, p) in training::CATEGORIES.iter().zip(b.mean()) {
        let share = 100.0 * p.as_secs_f64() / step.max(f64::MIN_POSITIVE);
        println!("{c:<16} {:>10.3} {share:>6.1}%", p.as_secs_f64());
    }
    let gpus = plan.dp.world as f64;
    let tokens = cfg.step_tokens() as f64;
    println!(
        "step {step:.3} s on {gpus} GPUs, {tokens} tokens: {:.0} GPU-hours per trillion tokens",
        step * gpus / 3600.0 / (tokens / 1e12)
    );
    Ok(())
}

/// timeline.csv: every op with its stream, category, schedule op, layer and times.
fn write_timeline(dir: &std::path::Path, tl: &Timeline) -> anyhow::Result<()> {
    let rows = tl.records.iter().map(|r| {
        let s = tl.stream(r.stream);
        let c = tl.category(r.category);
        let ps = |p: Ps| format!("{:.3}", p.as_us_f64());
        vec![
            r.id.0.to_string(),
            s.name.clone(),
            c.name.clone(),
            c.kind.as_str().to_string(),
            r.step.to_string(),
            r.layer.to_string(),
            ps(r.ready),
            ps(r.start),
            ps(r.end),
            r.bytes.to_string(),
            r.blocker.map(|b| b.0.to_string()).unwrap_or_default(),
        ]
    });
    write_atomic(
        &dir.join("timeline.csv"),
        &csv_bytes(
            &[
                "op",
                "stream",
                "category",
                "kind",
                "schedule_op",
                "layer",
                "ready_us",
                "start_us",
                "end_us",
                "bytes",
                "blocker",
            ],
            rows,
        ),
    )?;
    Ok(())
}

/// ranks.csv: per rank its stages, busy, bubble, exposed communication and memory.
fn write_ranks(dir: &std::path::Path, run: &TrainRun, a: &Attribution) -> anyhow::Result<()> {
    let rows = run.ranks.iter().enumerate().map(|(r, rk)| {
        let i = a
            .streams
            .iter()
            .position(|s| s.stream == rk.compute)
            .unwrap_or(0);
        let acc = &a.streams[i];
        let mut row = vec![
            r.to_string(),
            rk.stages
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(" "),
            ms(run.step_time),
            ms(acc.busy),
            ms(acc.bubble),
        ];
        for c in CATS {
            row.push(ms(exposed_of(run, a, i, c)));
        }
        row.push(rk.peak_in_flight.to_string());
        row.push(format!("{:.3}", rk.peak_activation_bytes as f64 / 1e9));
        row.push(format!("{:.3}", rk.param_bytes as f64 / 1e9));
        row
    });
    write_atomic(
        &dir.join("ranks.csv"),
        &csv_bytes(
            &[
                "rank",
                "stages",
                "step_ms",
                "busy_ms",
                "bubble_ms",
                "pp_p2p_exposed_ms",
                "ep_dispatch_exposed_ms",
                "ep_combine_exposed_ms",
                "mhc_hbm_exposed_ms",
                "peak_in_flight_chunks",
                "peak_activation_gb",
                "param_gb",
            ],
            rows,
        ),
    )?;
    Ok(())
}
