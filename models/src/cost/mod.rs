//! The op cost model: how long one kernel takes on one GPU, by op class, from the
//! profile's achievable rates and its per-kernel terms (`[kernels]`: floor, GEMM tile,
//! graph launch). Every op is a roofline of its own shape: compute at the dtype's
//! achievable rate, padded to whole tiles and whole waves of tiles over the SMs, against
//! its HBM bytes at the achievable bandwidth; no kernel takes less than the floor.
//!
//! | op | compute | bytes | file |
//! |---|---|---|---|
//! | GEMM (batched) | `2·m·n·k`, tiles of the profile's size (smaller GEMMs: next power of two), split-K when tiles are fewer than SMs, waves over the SMs | `A + B` in the dtype, `C` in BF16 (FP32 for FP32), at `[kernels] gemm_memory_bandwidth` where given (calibrated), else the HBM's | [`gemm`] |
//! | grouped GEMM (MoE experts) | each expert's rows tiled separately, one wave count for all | every touched expert's weights once, rows in and out (bandwidth as GEMM) | [`gemm`] |
//! | attention | `2·q·kv·(d + d_v)` per head, causal prefill halves the square; query tiles of `gemm_tile_m` rows per (batch, head), waves over the SMs (decode: split-KV, no waves) | Q, O and the KV cache once | [`attention`] |
//! | elementwise, norm, reduction | none | what it reads and writes, at `[kernels] memory_bandwidth` where given (calibrated), else the HBM's | [`memory`] |
//!
//! Pure arithmetic on [`HwRates`]; a million queries a second on one core
//! (`cargo bench -p memwall-models --bench cost`).

pub mod attention;
pub mod gemm;
pub mod measured;
pub mod memory;

pub use attention::{Attention, Phase};
pub use gemm::{Gemm, GroupedGemm};
pub use measured::{MeasuredCollective, MeasuredOp, Measurements};
pub use memory::{MemoryOp, Roofline};

use crate::perf::{Dtype, HwRates};
use memwall_sim::PS_PER_SEC;
use std::fmt;

/// One kernel of any class: what `memwall probe gemm|attention` asks about and what
/// replay prices a recorded kernel as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gemm(Gemm),
    Attention(Attention),
    Memory(MemoryOp),
}

impl Op {
    pub fn time(&self, r: &HwRates) -> Result<OpTime, CostError> {
        match self {
            Op::Gemm(g) => g.time(r),
            Op::Attention(a) => a.time(r),
            Op::Memory(m) => Ok(m.time(r)),
        }
    }

    /// The op's class: `gemm`, `attention` or `memory`.
    pub fn class(&self) -> &'static str {
        match self {
            Op::Gemm(_) => "gemm",
            Op::Attention(_) => "attention",
            Op::Memory(_) => "memory",
        }
    }

    /// A title for the op.
    pub fn label(&self) -> &'static str {
        match self {
            Op::Gemm(_) => "GEMM",
            Op::Attention(a) => match a.phase {
                Phase::Prefill => "prefill attention",
                Phase::Decode => "decode attention",
            },
            Op::Memory(_) => "memory-bound kernel",
        }
    }

    /// The op's shape as table columns and their values.
    pub fn shape_columns(&self) -> (Vec<&'static str>, Vec<String>) {
        match self {
            Op::Gemm(g) => (
                vec!["m", "n", "k", "batch"],
                [g.m, g.n, g.k, g.batch].map(|v| v.to_string()).to_vec(),
            ),
            Op::Attention(a) => (
                vec![
                    "batch",
                    "q_len",
                    "kv_len",
                    "heads",
                    "kv_heads",
                    "head_dim",
                    "v_head_dim",
                    "causal",
                ],
                [
                    a.batch,
                    a.q_len,
                    a.kv_len,
                    a.heads,
                    a.kv_heads,
                    a.head_dim,
                    a.v_head_dim,
                ]
                .map(|v| v.to_string())
                .into_iter()
                .chain([a.causal.to_string()])
                .collect(),
            ),
            Op::Memory(m) => (vec!["bytes"], vec![m.bytes.to_string()]),
        }
    }
}

/// What decided an op's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bound {
    /// The dtype's FLOP rate (tiles and waves included).
    Compute,
    /// HBM bandwidth.
    Memory,
    /// The GPU's shortest kernel: the op's work is smaller than a kernel's fixed cost.
    Floor,
}

impl Bound {
    pub fn label(self) -> &'static str {
        match self {
            Bound::Compute => "compute",
            Bound::Memory => "memory",
            Bound::Floor => "floor",
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One op's predicted time on one GPU and the work it was priced from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpTime {
    /// Device time, picoseconds (launch cost excluded: see [`launch_ps`]).
    pub ps: u64,
    pub bound: Bound,
    /// Useful FLOPs (no padding) and HBM bytes.
    pub flops: u128,
    pub bytes: u128,
    /// The dtype whose rate priced the compute (after fallback), if any.
    pub dtype: Option<Dtype>,
}

impl OpTime {
    /// Useful FLOP/s at the predicted time.
    pub fn flop_rate(&self) -> f64 {
        if self.ps == 0 {
            return 0.0;
        }
        self.flops as f64 * PS_PER_SEC as f64 / self.ps as f64
    }
}

/// Why an op cannot be priced on a GPU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CostError {
    #[error("GPU profile {gpu:?} has no {dtype} rate (nor one it could run {dtype} as)")]
    NoRate { gpu: String, dtype: &'static str },
    #[error("{what} must be at least 1")]
    Zero { what: &'static str },
}

/// Picoseconds for `amount` at `per_sec`, rounded up.
pub(crate) fn ps_for(amount: u128, per_sec: u64) -> u128 {
    (amount * PS_PER_SEC as u128).div_ceil(per_sec.max(1) as u128)
}

/// The op's time from its compute and memory terms and the GPU's floor.
pub(crate) fn finish(
    r: &HwRates,
    compute_ps: u128,
    flops: u128,
    bytes: u128,
    dtype: Option<Dtype>,
) -> OpTime {
    finish_at(r, r.hbm, compute_ps, flops, bytes, dtype)
}

/// [`finish`] with the bytes moved at `bw` bytes/s.
pub(crate) fn finish_at(
    r: &HwRates,
    bw: u64,
    compute_ps: u128,
    flops: u128,
    bytes: u128,
    dtype: Option<Dtype>,
) -> OpTime {
    let mem_ps = ps_for(bytes, bw);
    let floor = r.kernels.floor_ps as u128;
    let (t, bound) = if compute_ps >= mem_ps && compute_ps >= floor {
        (compute_ps, Bound::Compute)
    } else if mem_ps >= floor {
        (mem_ps, Bound::Memory)
    } else {
        (floor, Bound::Floor)
    };
    OpTime {
        ps: t.min(u64::MAX as u128) as u64,
        bound,
        flops,
        bytes,
        dtype,
    }
}

/// The achievable rate for `d` on `r` (with the profile's fallback), or why not.
pub(crate) fn rate(r: &HwRates, d: Dtype) -> Result<(u64, Dtype), CostError> {
    r.flops(d).ok_or_else(|| CostError::NoRate {
        gpu: r.name.clone(),
        dtype: d.label(),
    })
}

/// Compute time of `work` FLOPs done as `units` equal blocks spread over the GPU's SMs
/// in whole waves: a partial last wave costs a whole one. Without an SM count, no waves.
pub(crate) fn waves_ps(r: &HwRates, units: u128, work: u128, rate: u64) -> u128 {
    if units == 0 {
        return 0;
    }
    let padded = match r.sms {
        Some(sms) if sms > 0 => units.div_ceil(sms as u128) * sms as u128,
        _ => units,
    };
    ps_for(work.saturating_mul(padded) / units, rate)
}

/// CPU launch cost of `kernels` eager launches and `graphs` captured-graph replays.
pub fn launch_ps(r: &HwRates, kernels: u64, graphs: u64) -> u64 {
    kernels
        .saturating_mul(r.kernel_launch_ps)
        .saturating_add(graphs.saturating_mul(r.kernels.graph_launch_ps))
}

pub(crate) fn at_least_one(v: u64, what: &'static str) -> Result<u128, CostError> {
    if v == 0 {
        Err(CostError::Zero { what })
    } else {
        Ok(v as u128)
    }
}
