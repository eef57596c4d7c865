//! Pipeline-parallel MoE training on the discrete-event kernel: DualPipe / DualPipeV /
//! 1F1B / ZB1P schedules executed with real expert all-to-all and pipeline P2P costs.
//! Knows nothing of serving, sweeps or output files (the `memwall train` command writes
//! those). Entry points: [`TrainConfig`], [`TrainHw`], [`plan`], [`run_step`].
//!
//! - [`TrainConfig`]: the cluster as data (PP, EP, DP, micro-batch tokens, recompute,
//!   mHC, communication SMs, routing limit, one calibrated all-to-all efficiency).
//! - [`TrainHw`]: the per-GPU hardware, from a system profile of the registry
//!   (`memwall_models::perf::HwRates`), and the reference GPU's rates.
//! - [`plan`]: the model resolved in a [`memwall_llm::ModelRegistry`] (shipped, the
//!   user's, or a path relative to the config's folder), per-layer costs (compute phases re-timed from measured reference phases
//!   by FLOP ratio; all-to-all bytes from routing and message sizes; mHC HBM traffic
//!   with V4's switches; n-fold P2P messages; embedding, head and MTP by the op cost
//!   model; stages balanced by compute; ZeRO-1 groups) and per-rank memory
//!   ([`memory`], [`check_memory`] against the GPU's HBM).
//! - [`run_step`]: builds the op graph of one training step (per rank a compute stream,
//!   a communication stream for the EP all-to-all and the pipeline P2P (V3 Fig. 4), a
//!   high-priority mHC stream and a DP stream; per GPU a compute resource that communication kernels hold SMs of
//!   (each phase capped by its SM-bound share, [`sm_cap`]), HBM, NIC tx/rx and NVLink tx/rx; the ZeRO-1 end: gradient reduce-scatter per bucket,
//!   gradient norm and expert loads, AdamW, parameter all-gather) and runs it.
//! - [`breakdown`]: per rank the step in the categories of a published breakdown.
//! - [`ramp_mean`]: the step averaged over a run whose batch ramps up (V3 §4.2), the
//!   figure a reported cost per trillion tokens converts to.
//! - [`simulate_abstract`]: the schedule alone with fixed F / B / W / F&B costs and free
//!   communication, for the README bubble formulas.
//! - [`trace`]: per-phase durations of a DeepSeek Kineto trace, read through the Kineto
//!   importer (calibration input).
//!
//! ```
//! use memwall_llm::ModelRegistry;
//! use memwall_sim::{attribute, Ps};
//! use memwall_train::{plan, run_step, TrainConfig, TrainHw};
//!
//! // The shipped DeepSeek-V3 config, cut to 4 stages and 8 micro-batches.
//! let mut cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
//! cfg.pp = 4;
//! cfg.micro_batches = 8;
//! let hw = TrainHw::shipped(&cfg.system, &cfg).unwrap();
//! let run = run_step(&plan(&cfg, &hw, &ModelRegistry::builtin()).unwrap()).unwrap();
//! assert_eq!(run.ranks.len(), 4);
//! // Every stream's time splits exactly into busy, exposed waiting, and bubble.
//! let a = attribute(&run.timeline, (Ps::ZERO, run.step_time));
//! for s in &a.streams {
//!     assert_eq!(s.busy + s.exposed_total() + s.bubble, s.makespan);
//! }
//! ```

pub mod a2a;
pub mod breakdown;
mod build;
pub mod cluster;
pub mod config;
pub mod hw;
pub mod limits;
pub mod memory;
mod plan;
pub mod ramp;
pub mod trace;

pub use breakdown::{breakdown, Breakdown, CATEGORIES};
pub use build::{
    run_step, run_step_wired, simulate_abstract, AbstractRun, DpPick, PairSlot, RankOut, TrainRun,
    Wiring,
};
pub use config::{parse_duration, BatchRamp, PhaseShares, ReferencePhases, TrainConfig};
pub use hw::TrainHw;
pub use memory::{check_memory, memory, RankMemory};
pub use plan::{
    balanced_layers, chunk_pair_plan, effective_model, layer_from_measured, layers_per_stage, plan,
    rank_stages, sm_cap, stage_copies, DpPlan, LayerCost, Plan, Role, StagePlan,
    ADAM_BYTES_PER_PARAM,
};
pub use ramp::{ramp_mean, RampMean};

use memwall_kineto::KinetoError;
use memwall_models::ProfileErrors;
use memwall_sim::{FlowError, SimError};
use thiserror::Error;

/// Why a training run cannot be built or run. Every message names the rule broken.
#[derive(Debug, Error, Clone)]
pub enum TrainError {
    /// A config file or value that does not parse or breaks a rule of its own.
    #[error("training config: {0}")]
    Config(String),
    #[error("training config: {file}: {problem}\nhint: give a shipped training config name or the path to a training config TOML")]
    Io { file: String, problem: String },
    #[error(
        "training config: pp = {pp} exceeds the model's {layers} layers: every stage needs a layer"
    )]
    TooManyStages { pp: u32, layers: u32 },
    #[error(
        "training config: comm_sms = {comm_sms} must be below the {sms} SMs of `{system}`'s GPU"
    )]
    CommSms {
        comm_sms: u32,
        sms: u32,
        system: String,
    },
    #[error(
        "training config: reference.comm_sms = {comm_sms} must be below the {sms} SMs of the \
         reference GPU `{gpu}`"
    )]
    ReferenceCommSms {
        comm_sms: u32,
        sms: u32,
        gpu: String,
    },
    #[error("training config: W = {weight} exceeds the full backward B = {backward}")]
    WeightExceedsBackward { weight: u64, backward: u64 },
    #[error(transparent)]
    Schedule(#[from] memwall_pipeline::ScheduleError),
    #[error(transparent)]
    Model(#[from] memwall_llm::ModelError),
    #[error("simulation: {0}")]
    Sim(#[from] SimError),
    #[error("simulation: {0}")]
    Flow(#[from] FlowError),
    #[error("simulation: rank {rank} op {op}: producer output missing")]
    MissingProducer { rank: usize, op: usize },
    #[error("simulation: schedule deadlocks: no rank can emit its next op")]
    Deadlock,
    #[error("simulation: some ops never ran (a dependency cycle)")]
    NeverRan,
    /// The system or reference GPU is not in the registry (or a profile does not load).
    #[error("hardware profile: {0}")]
    Profiles(ProfileErrors),
    #[error("hardware profile: [reference] gpu: {0}")]
    ReferenceGpu(ProfileErrors),
    /// A profile without a number the training model needs.
    #[error("hardware profile: {what} `{name}`: {missing}")]
    Incomplete {
        what: &'static str,
        name: String,
        missing: &'static str,
    },
    #[error(
        "hardware profile: system `{system}` has no NIC: pipeline P2P (and all-to-all beyond \
         one NVLink domain) needs a scale-out link; add `node.nic` to the profile"
    )]
    NoNic { system: String },
    #[error(
        "memory: rank {rank} (stage {stage}) on `{system}` {detail}\nhint: more pipeline \
         stages, fewer tokens per micro-batch, recompute = \"mhc-block\" with mHC, or a GPU \
         with more HBM"
    )]
    OutOfMemory {
        rank: u32,
        stage: u32,
        system: String,
        detail: String,
    },
    #[error("op cost: {0}")]
    Cost(#[from] memwall_models::cost::CostError),
    #[error("data-parallel collective: {0}")]
    Collective(#[from] memwall_models::collective::CollectiveError),
    #[error("fabric: {0}")]
    Fabric(#[from] memwall_models::fabric::FabricError),
    #[error("trace: {0}")]
    TraceImport(#[from] KinetoError),
    /// A trace that is not a one-GPU DeepSeek chunk-pair profile.
    #[error("trace: {trace}: {problem}")]
    TraceShape { trace: String, problem: String },
}
