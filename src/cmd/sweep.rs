//! `memwall sweep FILE [--out DIR] [--threads N] [--shard I/N]`: run (or resume) a
//! what-if sweep. See docs/sweeps.md.

use anyhow::anyhow;
use clap::Args;
use memwall_sweep::{Shard, SweepOptions, SweepSpec};
use std::path::PathBuf;

#[derive(Args)]
pub struct SweepArgs {
    /// The sweep file (TOML).
    pub file: PathBuf,
    /// Output folder (default: out/<sweep name>). Finished cells found there are kept.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Run only shard I of N (0-based); `memwall merge` combines the shards. Default:
    /// from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT or
    /// JOB_COMPLETION_INDEX/MEMWALL_SHARD_COUNT when set.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Ignore the Slurm/Kubernetes shard variables and run every cell here.
    #[arg(long)]
    pub no_shard_env: bool,
    /// Stop after running this many cells (run again to finish).
    #[arg(long, value_name = "K")]
    pub max_cells: Option<usize>,
    /// Check the sweep file and every cell, run nothing.
    #[arg(long)]
    pub check: bool,
    /// No progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub quiet: bool,
    /// Run cells even when their estimate of memory or time is past the budget (2 GiB,
    /// 1 hour per cell).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub inputs: super::inputs::Inputs,
}

pub fn run(a: SweepArgs) -> anyhow::Result<()> {
    if a.force {
        memwall_models::budget::force();
    }
    let spec = SweepSpec::load(&a.file)?;
    let (reg, models) = a.inputs.registries(&spec.profiles)?;
    let owned = memwall_sweep::runners::all(&reg, &models);
    let runners: Vec<&dyn memwall_sweep::CellRunner> = owned.iter().map(|r| r.as_ref()).collect();
    let (prep, ri) = memwall_sweep::prepare(&spec, &runners, &reg)?;
    let shard = match &a.shard {
        Some(s) => Some(Shard::parse(s).map_err(|e| anyhow!(e))?),
        None if a.no_shard_env => None,
        None => Shard::from_env(|k| std::env::var(k).ok()).map_err(|e| anyhow!(e))?,
    };
    if a.check {
        println!(
            "{}: {} cells, all checked (runner {})",
            a.file.display(),
            prep.cells.len(),
            spec.runner
        );
        return Ok(());
    }
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(&spec.name));
    let opts = SweepOptions {
        out: out.clone(),
        threads: a.threads,
        shard,
        max_cells: a.max_cells,
        progress: !a.quiet,
    };
    let s = memwall_sweep::run(&prep, runners[ri], &opts)?;
    if let Some(first) = s.damaged.first() {
        eprintln!(
            "note: {} cell file(s) failed their checksum (edited or damaged) and were run again, e.g. {}",
            s.damaged.len(),
            first.display()
        );
    }
    let scope = match shard {
        Some(sh) => format!(" ({} in shard {sh})", s.owned_cells),
        None => String::new(),
    };
    eprintln!(
        "sweep {}: {} cells{scope}: {} reused, {} ran in {:.2} s",
        spec.name,
        s.total_cells,
        s.reused,
        s.ran,
        s.wall.as_secs_f64()
    );
    if s.remaining > 0 {
        eprintln!(
            "stopped after {} cells as asked; {} remain: run the same command again to finish",
            s.ran, s.remaining
        );
    } else if let Some(sh) = shard {
        eprintln!(
            "shard {sh} done in {}; when every shard is done: memwall merge <shard folders> --out DIR",
            out.display()
        );
    } else {
        for p in &s.outputs {
            if p.extension().is_some_and(|e| e != "png") {
                println!("{}", p.display());
            }
        }
    }
    Ok(())
}
