//! `memwall run [SCENARIO.toml]`: serve a scenario and print where the Engram latency
//! went. With no file it runs the embedded default (DeepSeek-V4.1-Flash on the H800 node,
//! both Engram tables in pinned host DRAM).

use anyhow::Context;
use clap::Args;
use memwall_models::Registry;
use memwall_reports::output::write_atomic;
use memwall_serve::{run_scenario, step_csv, summary_csv, summary_text, Scenario};
use std::path::PathBuf;

#[derive(Args)]
pub struct RunArgs {
    /// Scenario file (TOML; see scenarios/README.md). Default: the embedded default.
    pub scenario: Option<PathBuf>,
    /// Write the per-step x Engram-layer CSV here.
    #[arg(long)]
    pub steps_csv: Option<PathBuf>,
    /// Write the long-format summary CSV here.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Extra profile files or folders (override the embedded ones).
    #[arg(long = "profiles")]
    pub profiles: Vec<PathBuf>,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
}

pub fn run(a: RunArgs) -> anyhow::Result<()> {
    let mut s = match &a.scenario {
        Some(p) => Scenario::from_file(p)?,
        None => Scenario::default_scenario(),
    };
    if let Some(seed) = a.seed {
        s.seed = seed;
    }
    let reg = if a.profiles.is_empty() {
        Registry::embedded()
    } else {
        Registry::with_user_paths(&a.profiles)
    }
    .map_err(|e| {
        anyhow::anyhow!(e
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join("\n"))
    })?;
    let r = run_scenario(&s, &reg)?;
    print!("{}", summary_text(&r));
    if let Some(p) = &a.steps_csv {
        write_atomic(p, &step_csv(&r)).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &a.csv {
        write_atomic(p, &summary_csv(&r)).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
