//! memwall-sweep: procurement what-if sweeps. A sweep file names a base scenario, the
//! keys to vary (a grid, with zipped groups) and what to report; the engine checks every
//! cell before any runs, runs the missing cells in parallel with rayon, saves each one
//! as it finishes (so a stopped sweep resumes), splits the cells across machines
//! (`--shard I/N`, Slurm job arrays, Kubernetes Indexed Jobs) and merges them back into
//! exactly the outputs of one run: tidy CSV, wide CSV, JSON and Markdown summaries, and
//! plots, with price, power and the Pareto frontier of throughput against cost.
//!
//! It is generic over the simulation: a [`CellRunner`] turns a scenario (a TOML table)
//! into named metrics with units. See docs/sweeps.md.

pub mod economics;
pub mod engine;
pub mod outputs;
pub mod plan;
pub mod runner;
pub mod runners;
pub mod shard;
pub mod spec;
pub mod store;

pub use engine::{merge, prepare, run, EngineError, Prepared, RunOptions, RunSummary};
pub use runner::{CategorySplit, CellOutput, CellRunner, CheckError, Metric};
pub use shard::Shard;
pub use spec::{SweepError, SweepSpec};
