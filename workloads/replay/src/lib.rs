//! Replay of an imported engine trace ([`memwall_kineto::TraceGraph`]) on a hardware
//! profile: the trace's ops become an op graph for the executor, each re-timed by the
//! ratio of the relevant achievable rate (source → target), with SM contention between
//! communication and compute kernels, optional what-if transforms (mHC widening, Engram
//! lookups, another NIC or host link), then simulated. docs/replay.md describes the
//! model; this module is its single implementation. Knows nothing of serving, training
//! or output files. Entry points: [`replay`] with [`ReplayOptions`]; [`measure`] for
//! span and overlap of a timeline.
//!
//! Graph rules:
//! - each trace stream is a serial executor stream, its ops in recorded start order
//!   (programmatic-dependent-launch overlaps of a few µs are serialised);
//! - every cross-stream [`memwall_kineto::Dependency`] (recorded or inferred) is an edge;
//! - on a launch-bound device (`DeviceTimeline::launch_bound`, or forced), every launched
//!   op gets a *release* (`launch` op on a host stream): it cannot start before its CPU
//!   launch call plus the launch latency it showed; the CPU timeline is kept as recorded;
//! - an op that sat idle after its last known predecessor for ≥ 3 µs with no recorded
//!   reason (a host wait the trace does not show) keeps that idle time as a `host-gap`
//!   op after its predecessors: host time does not scale with the GPU;
//! - compute kernels are flows over the GPU's compute resource (capacity = one GPU), so
//!   concurrent kernels share it and communication kernels *hold* the fraction of SMs
//!   their grid occupies. Their recorded durations already include the sharing they saw,
//!   so each kernel's work is first de-contended (its share of the GPU integrated over
//!   its recorded interval); on the source hardware the same sharing re-creates the same
//!   durations.
//!
//! ```
//! use memwall_models::{perf::HwRates, Registry};
//! use memwall_replay::*;
//!
//! let path = concat!(
//!     env!("CARGO_MANIFEST_DIR"),
//!     "/../../tests/fixtures/traces/handmade-two-streams.json"
//! );
//! let g = memwall_kineto::import_file(path).unwrap();
//! // Its own hardware: the H800 the trace names, in its usual system.
//! let gpu = gpu_profile_for_device(g.meta.gpu_name.as_deref().unwrap()).unwrap();
//! let registry = Registry::embedded().unwrap();
//! let system = registry.system(default_system_for_gpu(gpu).unwrap()).unwrap();
//! let opts = ReplayOptions {
//!     source: HwRates::from_system(&system),
//!     source_system: Some(system.clone()),
//!     target: system,
//!     timing: Timing::Ratio,
//!     launch: LaunchMode::Auto,
//!     mhc: None,
//!     engram: None,
//! };
//! let out = replay(&g, &opts).unwrap();
//! // On the hardware it was captured on, the replay reproduces the recorded span.
//! assert_eq!(out.metrics[0].span_ps, out.original_metrics[0].span_ps);
//! ```

mod build;
pub mod limits;
pub mod measured;
pub mod metrics;
pub mod retime;
pub mod shapes;
pub mod transform;

pub use build::{replay, ReplayOutput, ScalingRow};
pub use measured::measurements;
pub use metrics::{measure, original_timeline, OpOrigin, ReplayDeviceMetrics};
pub use retime::{kernel_dtype, Factor, Retime, Retimer, Scaling, Timing};
pub use transform::{EngramInsert, MhcWiden};

use memwall_models::node::WiringError;
use memwall_models::perf::HwRates;
use memwall_models::tiers::TierError;
use memwall_models::SystemSpec;
use memwall_sim::SimError;
use thiserror::Error;

/// Idle time after an op's last known predecessor that is kept as host time (ns).
pub const HOST_GAP_MIN_NS: i64 = 3_000;

/// Whether CPU launch times constrain the replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LaunchMode {
    /// Where the importer found the device launch-bound.
    #[default]
    Auto,
    Always,
    Never,
}

/// What to replay on.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Rates of the hardware the trace was captured on.
    pub source: HwRates,
    /// The system the trace was captured on, where known: collectives with a recorded
    /// size are re-costed on it ([`memwall_models::collective::predict`]).
    pub source_system: Option<SystemSpec>,
    /// The system to replay on (already with any NIC / host-link swap applied).
    pub target: SystemSpec,
    /// Recorded durations scaled (default), or absolute times from the target's model.
    pub timing: Timing,
    pub launch: LaunchMode,
    pub mhc: Option<MhcWiden>,
    pub engram: Option<EngramInsert>,
}

/// A replay error: what went wrong and how to fix it.
#[derive(Debug, Error)]
pub enum ReplayError {
    #[error(
        "{trace}: the trace has no GPU ops (kernels, memcpys, memsets) to replay; \
         capture it with CUDA activities enabled"
    )]
    NoGpuOps { trace: String },
    #[error(
        "the trace has ops on {trace_gpus} GPUs but system `{system}` has {gpus} per node: \
         pick a larger system"
    )]
    TooFewGpus {
        trace_gpus: usize,
        system: String,
        gpus: usize,
    },
    #[error(
        "the GPU ops span {span_s:.0} s of {trace}, from `{first}` to `{last}`: a profile \
         window is seconds long, so a timestamp is wrong (a GPU op far before its launch?)\n\
         hint: fix or drop the op's `ts`; the replay takes traces of up to {max_s} s"
    )]
    SpanTooLong {
        trace: String,
        span_s: f64,
        max_s: u64,
        first: String,
        last: String,
    },
    #[error("wiring the target system: {0}")]
    Wiring(WiringError),
    #[error(
        "no op matches the Engram anchor `{anchor}` (a phase label or kernel name substring) \
         on the main compute stream: pick one from the trace's phases or kernel names"
    )]
    NoEngramAnchor { anchor: String },
    #[error("Engram placement: {0}")]
    EngramPlacement(Box<TierError>),
    #[error("Engram lookup: {0}")]
    EngramLookup(Box<TierError>),
    #[error("building the replay graph: {0}")]
    Graph(SimError),
    #[error("simulating the replay: {0}")]
    Simulation(SimError),
    #[error("{unfinished} ops never finished: the replay graph has a dependency cycle")]
    Cycle { unfinished: u64 },
}

/// The GPU profile name for a `deviceProperties` name (`NVIDIA H800` → `h800`,
/// `NVIDIA H100 80GB HBM3` → `h100-sxm`, `A100-PG509-200` → `a100-sxm`), if any.
pub fn gpu_profile_for_device(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    let table: &[(&str, &str)] = &[
        ("gb300", "gb300"),
        ("gb200", "gb200"),
        ("b300", "b300"),
        ("b200", "b200"),
        ("h800", "h800"),
        ("h200", "h200"),
        ("h100", "h100-sxm"),
        ("a100", "a100-sxm"),
        ("mi300x", "mi300x"),
        ("rubin cpx", "rubin-cpx"),
        ("rubin", "rubin"),
    ];
    table.iter().find(|(k, _)| n.contains(k)).map(|(_, v)| *v)
}

/// The system a GPU profile is usually found in, for "replay on its own hardware".
pub fn default_system_for_gpu(gpu: &str) -> Option<&'static str> {
    Some(match gpu {
        "h800" => "deepseek-h800-node",
        "h100-sxm" => "dgx-h100",
        "h200" => "hgx-h200",
        "b200" => "hgx-b200",
        "gb200" => "gb200-nvl72",
        "gb300" | "b300" => "gb300-nvl72",
        "rubin" => "vr200-nvl72",
        "a100-sxm" => "hgx-a100",
        _ => return None,
    })
}
