//! `memwall calibrate --system S [--kineto TRACE] [--nccl-tests FILE] [--nvbandwidth FILE]
//! [--fio FILE] --out DIR`: the user's own measurements fitted into profile overrides (basis
//! `calibrated`, source the input file) that `--profiles DIR` then loads; prints the
//! fit error per class.

use anyhow::Context;
use clap::{Args, ValueEnum};
use memwall_calibrate::{fio, kineto, nccl_tests, nvbandwidth, FitReport, Overrides};
use memwall_models::collective::Collective;
use memwall_models::{Registry, SystemSpec};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CalibrateArgs {
    /// System profile the measurements were taken on.
    #[arg(long)]
    pub system: String,
    /// PyTorch-profiler (Kineto) trace of the GPU (gzip or plain): per-class rates,
    /// floor, launch costs and sized collectives fitted to its kernels (docs/calibrate.md).
    #[arg(long, value_name = "TRACE")]
    pub kineto: Vec<PathBuf>,
    /// nccl-tests text output (all_reduce_perf and friends).
    #[arg(long = "nccl-tests", value_name = "FILE")]
    pub nccl_tests: Vec<PathBuf>,
    /// Which collective the nccl-tests files ran.
    #[arg(long, value_enum, default_value = "allreduce")]
    pub collective: CollectiveArg,
    /// Ranks of the nccl-tests runs, where their header lists none.
    #[arg(long)]
    pub ranks: Option<u32>,
    /// nvbandwidth text output.
    #[arg(long, value_name = "FILE")]
    pub nvbandwidth: Vec<PathBuf>,
    /// fio JSON output (--output-format=json).
    #[arg(long, value_name = "FILE")]
    pub fio: Vec<PathBuf>,
    /// Folder for the override profiles (one `<part>.toml` per profile).
    #[arg(long)]
    pub out: PathBuf,
    /// Extra profile files or folders that extend or override the shipped ones.
    #[arg(long = "profiles", value_name = "PATH")]
    pub user: Vec<PathBuf>,
}

#[derive(Copy, Clone, ValueEnum)]
pub enum CollectiveArg {
    Allreduce,
    Allgather,
    Reducescatter,
    Alltoall,
}

fn read(p: &Path) -> anyhow::Result<(String, String)> {
    let label = p.display().to_string();
    let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {label}"))?;
    Ok((label, text))
}

pub fn run(a: CalibrateArgs) -> anyhow::Result<()> {
    let reg = Registry::with_user_paths(&a.user)?;
    let sys = reg.system(&a.system)?;
    let mut out = Overrides::new();
    let mut reports: Vec<FitReport> = Vec::new();
    let mut inputs = Vec::new();
    let mut notes = Vec::new();
    for p in &a.kineto {
        let file = p.display().to_string();
        let g = memwall_kineto::import_file(p).map_err(|e| anyhow::anyhow!("{e}"))?;
        check_gpu(&g, &sys, &file)?;
        let m = memwall_replay::measurements(&g, sys.node.gpu.sms);
        let fit = kineto::calibrate(&reg, &sys, &m, &file, &mut out)?;
        reports.extend(fit.reports);
        notes.extend(fit.notes);
        inputs.push(file);
    }
    for p in &a.nccl_tests {
        let (file, text) = read(p)?;
        reports.extend(nccl(&reg, &sys, &a, &file, &text, &mut out)?);
        inputs.push(file);
    }
    for p in &a.nvbandwidth {
        let (file, text) = read(p)?;
        let tests = nvbandwidth::parse(&text, &file)?;
        reports.extend(nvbandwidth::calibrate(&reg, &sys, &tests, &file, &mut out)?);
        inputs.push(file);
    }
    for p in &a.fio {
        let (file, text) = read(p)?;
        let jobs = fio::parse(&text, &file)?;
        reports.extend(fio::calibrate(&reg, &sys, &jobs, &file, &mut out)?);
        inputs.push(file);
    }
    if out.is_empty() {
        anyhow::bail!("nothing to calibrate: give --kineto, --nccl-tests, --nvbandwidth or --fio files whose tests apply to {}", sys.name);
    }
    std::fs::create_dir_all(&a.out)
        .with_context(|| format!("cannot create {}", a.out.display()))?;
    println!("{}: fit error per class", sys.name);
    for r in &reports {
        println!("  {}", r.line());
    }
    for n in &notes {
        println!("  note: {n}");
    }
    for (name, text) in out.files(&inputs) {
        let path = a.out.join(&name);
        memwall_reports::output::write_atomic(&path, text.as_bytes())?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The trace's GPU (its deviceProperties name, where a profile matches it) must be the
/// system's: a trace calibrates the GPU it ran on.
fn check_gpu(g: &memwall_kineto::TraceGraph, sys: &SystemSpec, file: &str) -> anyhow::Result<()> {
    let Some(name) = g.meta.gpu_name.as_deref() else {
        return Ok(());
    };
    match memwall_replay::gpu_profile_for_device(name) {
        Some(gpu) if gpu != sys.node.gpu.name => anyhow::bail!(
            "{file}: the trace ran on `{name}` (profile `{gpu}`) but system `{}` has `{}` GPUs\n  \
             hint: pass the system the trace was taken on (`memwall profiles list`)",
            sys.name,
            sys.node.gpu.name
        ),
        _ => Ok(()),
    }
}

fn nccl(
    reg: &Registry,
    sys: &SystemSpec,
    a: &CalibrateArgs,
    file: &str,
    text: &str,
    out: &mut Overrides,
) -> anyhow::Result<Vec<FitReport>> {
    let run = nccl_tests::parse(text, file)?;
    let ranks = run.ranks.or(a.ranks).with_context(|| {
        format!("{file}: the header lists no ranks (`#  Rank` lines): give --ranks N")
    })?;
    let c = match a.collective {
        CollectiveArg::Allreduce => Collective::AllReduce,
        CollectiveArg::Allgather => Collective::AllGather,
        CollectiveArg::Reducescatter => Collective::ReduceScatter,
        CollectiveArg::Alltoall => Collective::AllToAll,
    };
    Ok(nccl_tests::calibrate(reg, sys, c, &run, ranks, file, out)?)
}
