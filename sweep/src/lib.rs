//! memwall-sweep: procurement what-if sweeps. A sweep file names a base scenario, the
//! keys to vary (a grid, with zipped groups) and what to report; the engine checks every
//! cell before any runs, runs the missing cells in parallel with rayon, saves each one
//! as it finishes (so a stopped sweep resumes), splits the cells across machines
//! (`--shard I/N`, Slurm job arrays, Kubernetes Indexed Jobs) and merges them back into
//! exactly the outputs of one run: tidy CSV, wide CSV, JSON and Markdown summaries, and
//! plots, with price, power and the Pareto frontier of throughput against cost.
//!
//! It is generic over the simulation: a [`CellRunner`] turns a scenario (a TOML table)
//! into named metrics with units; runners are registered by name in [`runners`]. The
//! engine never looks inside a simulation. See docs/sweeps.md.
//!
//! A runner that squares `x`, swept over a 2-cell grid:
//!
//! ```
//! use memwall_sweep::{CellOutput, CellRunner, CheckError, Metric, SweepOptions, SweepSpec};
//!
//! struct Square;
//! impl CellRunner for Square {
//!     fn name(&self) -> &str { "square" }
//!     fn version(&self) -> &str { "1" }
//!     fn check(&self, s: &toml::Table) -> Result<(), CheckError> {
//!         match s.get("x").and_then(|v| v.as_integer()) {
//!             Some(_) => Ok(()),
//!             None => Err(CheckError::at("x", "x must be an integer")),
//!         }
//!     }
//!     fn run(&self, s: &toml::Table) -> Result<CellOutput, String> {
//!         let x = s["x"].as_integer().unwrap() as f64;
//!         Ok(CellOutput { metrics: vec![Metric::new("y", "1", x * x)], ..Default::default() })
//!     }
//! }
//!
//! let text = r#"
//! [sweep]
//! name = "squares"
//! runner = "square"
//!
//! [[axis]]
//! key = "x"
//! values = [2, 3]
//! "#;
//! let spec = SweepSpec::parse("squares.toml".as_ref(), text)?;
//! let reg = memwall_models::Registry::embedded()?;
//! let (prep, i) = memwall_sweep::prepare(&spec, &[&Square], &reg)?;
//! assert_eq!((prep.cells.len(), i), (2, 0));
//!
//! let out = std::env::temp_dir().join(format!("memwall-doc-sweep-{}", std::process::id()));
//! let opts = SweepOptions { out: out.clone(), threads: Some(1), ..Default::default() };
//! let summary = memwall_sweep::run(&prep, &Square, &opts)?;
//! assert_eq!((summary.ran, summary.reused), (2, 0));
//! let cells = std::fs::read_to_string(out.join("cells.csv"))?;
//! assert!(cells.lines().nth(1).unwrap().ends_with(",4"), "{cells}");
//! assert!(cells.lines().nth(2).unwrap().ends_with(",9"), "{cells}");
//!
//! // A second run finds both cells done and runs nothing.
//! assert_eq!(memwall_sweep::run(&prep, &Square, &opts)?.reused, 2);
//! # std::fs::remove_dir_all(&out)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod capacity;
pub mod economics;
pub mod engine;
pub mod outputs;
pub mod plan;
pub mod runner;
pub mod runners;
pub mod shard;
pub mod spec;
pub mod store;

pub use engine::{merge, prepare, run, EngineError, Prepared, RunSummary, SweepOptions};
pub use runner::{CategorySplit, CellOutput, CellRunner, CheckError, Metric};
pub use shard::Shard;
pub use spec::{SweepError, SweepSpec};
