//! Pipeline-parallel MoE training on the discrete-event kernel: DualPipe / DualPipeV /
//! 1F1B / ZB1P schedules executed with real expert all-to-all and pipeline P2P costs.
//!
//! - [`TrainConfig`]: the cluster as data (PP, EP, DP, micro-batch tokens, recompute,
//!   mHC, communication SMs, routing limit, one calibrated all-to-all efficiency).
//! - [`TrainHw`]: the per-GPU hardware, from a system profile of the registry
//!   (`memwall_models::perf::HwRates`), and the reference GPU's rates.
//! - [`plan`]: per-layer costs (compute phases re-timed from measured reference phases
//!   by FLOP ratio; all-to-all bytes from routing and message sizes; mHC HBM traffic;
//!   n-fold P2P messages) and per-rank memory.
//! - [`simulate`]: builds the op graph (per rank a compute stream, an EP communication
//!   stream and a pipeline P2P stream; per GPU a compute resource that communication
//!   kernels hold SMs of, NIC tx/rx and NVLink tx/rx) and runs it.
//! - [`simulate_abstract`]: the schedule alone with fixed F / B / W / F&B costs and free
//!   communication, for the README bubble formulas.
//! - [`trace`]: per-phase durations of a DeepSeek Kineto trace, read through the Kineto
//!   importer (calibration input).

pub mod a2a;
mod build;
pub mod config;
pub mod hw;
mod plan;
pub mod trace;

pub use build::{simulate, simulate_abstract, AbstractRun, PairSlot, RankOut, TrainRun};
pub use config::{parse_duration, ReferencePhases, TrainConfig};
pub use hw::TrainHw;
pub use plan::{
    chunk_pair_plan, effective_model, layer_from_measured, layers_per_stage, plan, LayerCost, Plan,
    StagePlan,
};

use thiserror::Error;

/// Why a training run cannot be built or run. Every message names the rule broken.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TrainError {
    #[error("training config: {0}")]
    Config(String),
    #[error(transparent)]
    Schedule(#[from] memwall_pipeline::ScheduleError),
    #[error(transparent)]
    Model(#[from] memwall_llm::ModelError),
    #[error("simulation: {0}")]
    Sim(String),
    #[error("hardware profile: {0}")]
    Profile(String),
    #[error("trace: {0}")]
    Trace(String),
}

impl From<memwall_sim::SimError> for TrainError {
    fn from(e: memwall_sim::SimError) -> Self {
        TrainError::Sim(e.to_string())
    }
}
