//! `memwall sweep FILE [--out DIR] [--threads N] [--shard I/N]`: run (or resume) a
//! what-if sweep. See docs/sweeps.md.

use anyhow::anyhow;
use clap::Args;
use memwall_models::Registry;
use memwall_sweep::engram_fetch::EngramFetch;
use memwall_sweep::{
    CategorySplit, CellOutput, CellRunner, CheckError, Metric, RunOptions, Shard, SweepSpec,
};
use memwall_workloads::serving::{run_scenario_with, RunOptions as ServeOptions, Scenario};
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
    /// Extra profile files or folders that extend or override the shipped ones.
    #[arg(long = "profiles", value_name = "PATH")]
    pub user: Vec<PathBuf>,
}

pub fn run(a: SweepArgs) -> anyhow::Result<()> {
    let spec = SweepSpec::load(&a.file)?;
    let mut paths = spec.profiles.clone();
    paths.extend(a.user.iter().cloned());
    let reg = Registry::with_user_paths(&paths).map_err(|e| {
        anyhow!(e
            .iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join("\n"))
    })?;
    let fetch = EngramFetch {
        registry: reg.clone(),
    };
    let serving = ServingScenario {
        registry: reg.clone(),
    };
    let runners: Vec<&dyn CellRunner> = vec![&serving, &fetch];
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
    let opts = RunOptions {
        out: out.clone(),
        threads: a.threads,
        shard,
        max_cells: a.max_cells,
        progress: !a.quiet,
    };
    let s = memwall_sweep::run(&prep, runners[ri], &opts)?;
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

/// `runner = "scenario"`: each cell is a `memwall run` serving scenario
/// (workloads::serving::run_scenario), the same TOML as scenarios/*.toml.
pub struct ServingScenario {
    pub registry: Registry,
}

impl ServingScenario {
    fn parse(&self, t: &toml::Table) -> Result<Scenario, CheckError> {
        let text = toml::to_string(t).map_err(|e| CheckError {
            key: None,
            message: e.to_string(),
        })?;
        Scenario::from_toml_str("<cell>", &text).map_err(|e| {
            let m = e.to_string();
            // serde names the offending key in backticks: map it back to a sweep line.
            let key = m.split('`').nth(1).map(str::to_string);
            CheckError {
                key,
                message: m.lines().next().unwrap_or("").to_string(),
            }
        })
    }
}

impl CellRunner for ServingScenario {
    fn name(&self) -> &str {
        "scenario"
    }
    fn version(&self) -> &str {
        "serving-1"
    }
    fn check(&self, t: &toml::Table) -> Result<(), CheckError> {
        self.parse(t).map(|_| ())
    }
    fn run(&self, t: &toml::Table) -> Result<CellOutput, String> {
        let s = self.parse(t).map_err(|e| e.message)?;
        let opt = ServeOptions {
            step_rows: false,
            sample_steps: 0,
        };
        let r = run_scenario_with(&s, &self.registry, opt).map_err(|e| e.to_string())?;
        let w = &r.with_engram;
        let us = |p: memwall_sim::Ps| p.as_us_f64();
        let mut m = vec![
            Metric::new("throughput", "tokens/s", w.tokens_per_s),
            Metric::new("exposed_p50", "us", us(w.step_exposed_p50)),
            Metric::new("exposed_p99", "us", us(w.step_exposed_p99)),
            Metric::new("makespan", "us", us(w.makespan)),
            Metric::new("steps", "count", w.steps as f64),
            Metric::new("output_tokens", "count", w.output_tokens as f64),
            Metric::new("busy", "us", us(w.busy)),
            Metric::new("bubble", "us", us(w.bubble)),
            Metric::new("nvme_pages", "count", w.nvme_pages as f64),
            Metric::new("nodes", "count", 1.0),
        ];
        if let Some(b) = &r.without_engram {
            m.push(Metric::new(
                "throughput_without_engram",
                "tokens/s",
                b.tokens_per_s,
            ));
        }
        if let Some(p) = r.penalty {
            m.push(Metric::new("throughput_penalty", "%", p * 100.0));
        }
        if let Some(h) = w.hbm_cache_hit_rate {
            m.push(Metric::new("hbm_cache_hit_rate", "%", h * 100.0));
        }
        if let Some(h) = w.dram_cache_hit_rate {
            m.push(Metric::new("dram_cache_hit_rate", "%", h * 100.0));
        }
        let categories = w
            .by_category
            .iter()
            .map(|(c, t)| CategorySplit {
                category: c.clone(),
                hidden_us: us(t.hidden),
                exposed_us: us(t.exposed),
            })
            .collect();
        Ok(CellOutput {
            metrics: m,
            categories,
            step_exposed_us: Vec::new(),
        })
    }
}
