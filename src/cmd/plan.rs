//! `memwall plan FILE [--out DIR] [--threads N]`: capacity planning. For each system and
//! placement of the plan file, the largest request rate that meets the TTFT/TPOT
//! objectives, its cost at the user's prices, the cheapest deployment for the target
//! rate, and the frontier plot. See docs/plan.md.

use clap::Args;
use memwall_sweep::capacity::{self, PlanSpec};
use std::path::PathBuf;

#[derive(Args)]
pub struct PlanArgs {
    /// The plan file (TOML).
    pub file: PathBuf,
    /// Output folder (default: out/<plan name>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads (default: one per CPU); the outputs are the same at any count.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Check the plan file and every cell, run nothing.
    #[arg(long)]
    pub check: bool,
    /// Run even when the estimate of memory or time is past the budget (2 GiB, 1 hour).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub inputs: super::inputs::Inputs,
}

pub fn run(a: PlanArgs) -> anyhow::Result<()> {
    if a.force {
        memwall_models::budget::force();
    }
    let spec = PlanSpec::load(&a.file)?;
    let (reg, models) = a.inputs.registries(&spec.profiles)?;
    let cells = capacity::prepare(&spec, &reg)?;
    if a.check {
        println!(
            "{}: {} cells, all checked (at most {} probes each)",
            a.file.display(),
            cells.len(),
            spec.search.max_probes()
        );
        return Ok(());
    }
    let t0 = std::time::Instant::now();
    let result = capacity::run(&spec, cells, &reg, &models, a.threads)?;
    let probes: usize = result.cells.iter().map(|c| c.search.probes.len()).sum();
    let out = a
        .out
        .unwrap_or_else(|| PathBuf::from("out").join(&spec.name));
    let written = capacity::report::write_all(&out, &spec, &result)?;
    print!("{}", capacity::report::summary_md(&spec, &result));
    eprintln!(
        "plan {}: {} cells, {probes} probes in {:.2} s",
        spec.name,
        result.cells.len(),
        t0.elapsed().as_secs_f64()
    );
    for p in written
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e != "png"))
    {
        println!("{}", p.display());
    }
    Ok(())
}
