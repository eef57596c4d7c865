//! Serving simulation end to end: requests (Azure trace CSV or synthetic), continuous
//! batching, roofline compute per layer, Engram fetches under every placement, hidden vs
//! exposed per step and per Engram layer, and the throughput penalty against the same
//! run without Engram. The entry point is [`run_scenario`].

pub mod batcher;
pub mod corpus;
pub mod cost;
pub mod report;
pub mod requests;
pub mod rows;
pub mod run;
pub mod scenario;

pub use report::{step_csv, summary_csv, summary_text};
pub use run::{
    run_scenario, run_scenario_with, LayerStats, RunOptions, RunResult, RunStats, StepRow,
};
pub use scenario::{Scenario, ScenarioError};
