//! Serving simulation end to end: requests (Azure trace CSV or synthetic), continuous
//! batching, roofline compute per layer, Engram fetches through any fetch tier
//! (`memwall_models::tiers`), hidden vs exposed per step and per Engram layer, and the
//! throughput penalty against the same run without Engram. The entry point is
//! [`run_scenario`]; [`fetch_bench`] is the small fetch-behind-compute simulation the
//! `engram-fetch` sweep runner calls.

// ScenarioError is large by design (file, line, field, value, message, hint); errors are rare.
#![allow(clippy::result_large_err)]

pub mod batcher;
pub mod corpus;
pub mod cost;
mod engram;
pub mod error;
pub mod fetch_bench;
pub mod report;
pub mod requests;
pub mod rows;
pub mod run;
pub mod scenario;
mod sim;

pub use report::{step_csv, summary_csv, summary_text};
pub use run::{
    run_scenario, run_scenario_with, LayerStats, RunOptions, RunResult, RunStats, StepRow,
};
pub use scenario::{Scenario, ScenarioError};
