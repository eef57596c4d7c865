//! Serving simulation end to end: requests (Azure trace CSV or synthetic), continuous
//! batching, roofline compute per layer, Engram fetches through any fetch tier
//! (`memwall_models::tiers`), hidden vs exposed per step and per Engram layer, and the
//! throughput penalty against the same run without Engram. The entry point is
//! [`run_scenario`]; [`fetch_bench`] is the small fetch-behind-compute simulation the
//! `engram-fetch` sweep runner calls.
//!
//! It knows nothing of the CLI, of files it is not given (a scenario names its request
//! CSV, corpus and tokenizer), or of how a fetch tier moves bytes (the tier does).
//!
//! ```
//! use memwall_llm::ModelRegistry;
//! use memwall_models::Registry;
//! use memwall_serve::{run_scenario, Scenario};
//!
//! let s = Scenario::from_toml_str("doc.toml", r#"
//!     system = "deepseek-h800-node"
//!     model = "deepseek-v4.1-flash"
//!     [workload]
//!     kind = "synthetic"
//!     requests = 16
//!     prompt_tokens = [64, 128]
//!     output_tokens = [8, 16]
//!     [engine]
//!     expert_parallel = 8
//!     [engram]
//!     layout = "v41-flash"
//!     placement = "host-zero-copy"
//! "#).unwrap();
//! let r = run_scenario(&s, &Registry::embedded().unwrap(), &ModelRegistry::builtin()).unwrap();
//! assert_eq!(r.placement.as_deref(), Some("host-zero-copy"));
//! // Every Engram fetch's latency is either hidden behind compute or exposed.
//! for l in &r.with_engram.layers {
//!     assert_eq!(l.hidden + l.exposed, l.latency);
//! }
//! assert!(r.penalty.unwrap() >= 0.0);
//! ```

// ScenarioError is large by design (file, line, field, value, message, hint); errors are rare.
#![allow(clippy::result_large_err)]

pub mod batcher;
pub mod budget;
pub mod corpus;
pub mod cost;
pub mod disagg;
pub mod engine;
mod engram;
pub mod ep_cluster;
pub mod error;
mod fast_hash;
pub mod fetch_bench;
pub mod kv;
pub mod limits;
pub mod metrics;
pub mod moe;
pub mod mwet;
mod rack;
pub mod report;
pub mod requests;
pub mod reuse;
pub mod rows;
pub mod run;
pub mod scenario;
mod sim;

pub use metrics::{Dist, LatencySummary, RequestRecord, Slo};
pub use report::{batches_csv, requests_csv, step_csv, summary_csv, summary_json, summary_text};
pub use run::{
    run_scenario, run_scenario_with, BatchRow, LayerStats, RunOptions, RunResult, RunStats, StepRow,
};
pub use scenario::{Scenario, ScenarioError};
