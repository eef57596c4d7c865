//! `memwall run [SCENARIO]`: serve a scenario (a file, or a shipped one by name) and
//! print where the Engram latency went. With no argument it runs the shipped `default`
//! (DeepSeek-V4.1-Flash on the H800 node, both Engram tables in pinned host DRAM).

use crate::scenarios;
use anyhow::Context;
use clap::Args;
use memwall_io::paths::{check_outputs, Named};
use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_reports::output::write_atomic;
use memwall_serve::{run_scenario, step_csv, summary_csv, summary_text};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Args)]
pub struct RunArgs {
    /// Scenario file (TOML; see scenarios/README.md), or a shipped scenario's name
    /// (`default`, `engram-paper-h800`). Default: `default`.
    pub scenario: Option<String>,
    /// Write the per-step x Engram-layer CSV here.
    #[arg(long)]
    pub steps_csv: Option<PathBuf>,
    /// Write the long-format summary CSV here.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Extra profile files or folders (override the embedded ones).
    #[arg(long = "profiles")]
    pub profiles: Vec<PathBuf>,
    /// Extra model files or folders (add to or override the shipped models by name).
    #[arg(long = "models", value_name = "PATH")]
    pub models: Vec<PathBuf>,
    /// Override the scenario's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Run even when the estimate of memory or time is past the budget (2 GiB, 1 hour).
    #[arg(long)]
    pub force: bool,
}

pub fn run(a: RunArgs) -> anyhow::Result<()> {
    let mut s = scenarios::load(a.scenario.as_deref().unwrap_or(scenarios::DEFAULT))?;
    if let Some(seed) = a.seed {
        s.seed = seed;
    }
    check_paths(&a, &s.origin)?;
    let reg = Registry::with_user_paths(&a.profiles)?;
    let models = ModelRegistry::with_user_paths(&a.models)?;
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
    let r = run_scenario(&s, &reg, &models)?;
    print!("{}", summary_text(&r));
    if let Some(p) = &a.steps_csv {
        write_atomic(p, &step_csv(&r)).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &a.csv {
        write_atomic(p, &summary_csv(&r)).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}

/// The CSVs may not overwrite the scenario, the profiles or models given, or each other.
fn check_paths(a: &RunArgs, origin: &str) -> anyhow::Result<()> {
    let mut inputs = vec![Named::new("SCENARIO", origin)];
    inputs.extend(a.profiles.iter().map(|p| Named::new("--profiles", p)));
    inputs.extend(a.models.iter().map(|p| Named::new("--models", p)));
    let mut outputs = Vec::new();
    outputs.extend(a.csv.iter().map(|p| Named::new("--csv", p)));
    outputs.extend(a.steps_csv.iter().map(|p| Named::new("--steps-csv", p)));
    Ok(check_outputs(&inputs, &outputs)?)
}
