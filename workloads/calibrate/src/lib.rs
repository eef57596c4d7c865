//! memwall-calibrate: profile overrides fitted from the user's own measurements.
//!
//! One module per input kind parses its format and fits the profile numbers it
//! informs; [`overrides`] writes them, basis `calibrated` and the input file as
//! source, into copies of the named profiles that `--profiles` then loads over the
//! shipped ones. Every fit reports its error per class ([`FitReport`]).
//!
//! | input | module | profile numbers |
//! |---|---|---|
//! | nccl-tests text tables (`all_reduce_perf`, ...) | [`nccl_tests`] | the link's `[collective]`: NVLS latency, bandwidth, chunk overhead; each ring/tree protocol's base latency and efficiency (or ceiling) |
//! | nvbandwidth output | [`nvbandwidth`] | host link H2D / D2H achievable, NVLink achievable |
//! | fio JSON (`--output-format=json`) | [`fio`] | drive sequential read, random-read IOPS, QD1 read latency |
//! | a Kineto trace, as [`memwall_models::cost::Measurements`] | [`kineto`] | GPU: HBM achievable and floor, each dtype's achievable rate, launch costs; links: `[collective]` from sized collectives |
//!
//! This crate knows nothing of traces: the trace is read and turned into measurements
//! by `memwall_replay::measurements`, beside the replay that uses the same shapes.

pub mod error;
pub mod fio;
pub mod fit;
pub mod kineto;
pub mod nccl_tests;
pub mod nvbandwidth;
pub mod overrides;

pub use error::CalibrateError;
pub use overrides::Overrides;

/// The error of one fitted class: how far the fitted model lands from the points it
/// was fitted to.
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    /// What was fitted (`all-reduce nvls Simple`, `h2d`, `randread qd1`).
    pub class: String,
    /// Profile part and field written.
    pub target: String,
    pub points: usize,
    /// Largest and root-mean-square relative error, in percent.
    pub max_error_pct: f64,
    pub rms_error_pct: f64,
    /// The model's total over the measured total, minus one, in percent (where the
    /// points add up: kernels of one trace).
    pub total_error_pct: Option<f64>,
}

impl FitReport {
    pub fn line(&self) -> String {
        let total = self
            .total_error_pct
            .map_or(String::new(), |t| format!("  total {t:+6.2}%"));
        format!(
            "{:<28} {:>3} points  max {:>6.2}%  rms {:>6.2}%{total}  -> {}",
            self.class, self.points, self.max_error_pct, self.rms_error_pct, self.target
        )
    }
}
