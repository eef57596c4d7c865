//! Re-timing one recorded op on another GPU (docs/replay.md §2 has the table). Two modes
//! ([`Timing`]):
//! - `Ratio` (the default): a kernel whose shapes the trace recorded is priced by the op
//!   cost model on both GPUs and scaled by the ratio of the two predictions, so a
//!   memory-bound GEMM scales with HBM and a tiny kernel with the floors; any other
//!   kernel scales by the ratio of the relevant achievable rate, and never falls under
//!   the target's kernel floor; a collective with a recorded size and group by the ratio
//!   of [`collective::predict`] on the two systems.
//! - `Model`: every op whose work the trace records takes its absolute time from the
//!   target's cost model (shaped kernels: [`memwall_models::cost`]; sized collectives:
//!   [`collective::predict`] on the target system, NCCL's pick there); the rest (kernels without shapes, DeepEP kernels, copies,
//!   memsets) are re-timed as in `Ratio`, from their recorded durations.

use super::shapes::op_of;
use memwall_kineto::{CommCategory, CopyDir, GpuOp, OpClass, TraceGraph};
use memwall_models::collective::{self, Collective};
use memwall_models::perf::{Dtype, HwRates};
use memwall_models::SystemSpec;

/// Where a replayed kernel's time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Timing {
    /// Recorded durations scaled by model or rate ratios, source to target.
    #[default]
    Ratio,
    /// Absolute times from the target's cost model wherever the trace records the work.
    Model,
}

/// Which rate an op's duration scales with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scaling {
    /// The op cost model on the recorded shapes (`gemm`, `attention`, `memory`).
    Shape(&'static str),
    /// FLOP rate of a dtype (GEMM, attention).
    Flops(Dtype),
    /// HBM bandwidth (elementwise, normalisation, reduction, memset, D2D copy).
    Hbm,
    /// Host link, host to device / device to host.
    HostH2d,
    HostD2h,
    /// NVLink (P2P copy; intranode DeepEP; collectives without metadata inside a node).
    Nvlink,
    /// NIC (internode DeepEP).
    Nic,
    /// Collective re-costed from its message size ([`collective::predict`] ratio).
    Collective,
    /// Absolute time from the target's model (`gemm`, `attention`, `memory`,
    /// `collective`): the recorded duration is not used.
    Model(&'static str),
    /// Kept as recorded.
    Unchanged,
}

impl Scaling {
    pub fn label(self) -> String {
        match self {
            Scaling::Shape(k) => format!("cost-model-{k}"),
            Scaling::Flops(d) => format!("flops-{}", d.label()),
            Scaling::Hbm => "hbm".into(),
            Scaling::HostH2d => "host-h2d".into(),
            Scaling::HostD2h => "host-d2h".into(),
            Scaling::Nvlink => "nvlink".into(),
            Scaling::Nic => "nic".into(),
            Scaling::Collective => "collective-model".into(),
            Scaling::Model(k) => format!("model-{k}"),
            Scaling::Unchanged => "unchanged".into(),
        }
    }
}

/// The dtype of a compute-bound kernel, from its name: `fp4`/`nvfp4`/`mxfp4`/`e2m1` →
/// FP4; `fp8`/`e4m3`/`e5m2`/`f8f6f4`/`_f8` → FP8; anything else → BF16 (FP16, BF16 and
/// TF32 kernels all run on the BF16-class tensor-core rate in the profiles).
pub fn kernel_dtype(name: &str) -> Dtype {
    let n = name.to_ascii_lowercase();
    if ["fp4", "e2m1", "mxf4"].iter().any(|k| n.contains(k)) {
        Dtype::Fp4
    } else if ["fp8", "e4m3", "e5m2", "f8f6f4", "_f8", "float8"]
        .iter()
        .any(|k| n.contains(k))
    {
        Dtype::Fp8
    } else {
        Dtype::Bf16
    }
}

/// An op's rate scaling and the factor `(num, den)`: target duration = source × num / den.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Factor {
    pub scaling: Scaling,
    pub num: u128,
    pub den: u128,
}

impl Factor {
    pub fn one(scaling: Scaling) -> Factor {
        Factor {
            scaling,
            num: 1,
            den: 1,
        }
    }
    fn ratio(scaling: Scaling, src: Option<u64>, tgt: Option<u64>) -> Factor {
        match (src, tgt) {
            (Some(s), Some(t)) if s > 0 && t > 0 => Factor {
                scaling,
                num: s as u128,
                den: t as u128,
            },
            _ => Factor::one(Scaling::Unchanged),
        }
    }
    /// Scales a duration (any unit), rounding to nearest.
    pub fn apply(&self, d: u64) -> u64 {
        let v = (d as u128 * self.num + self.den / 2) / self.den.max(1);
        v.min(u64::MAX as u128) as u64
    }
}

/// An op's new time: its recorded duration scaled, or an absolute model time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retime {
    Scaled(Factor),
    Absolute { scaling: Scaling, ps: u64 },
}

impl Retime {
    pub fn scaling(&self) -> Scaling {
        match self {
            Retime::Scaled(f) => f.scaling,
            Retime::Absolute { scaling, .. } => *scaling,
        }
    }
    /// The new time of an op recorded (or de-contended) as `d` picoseconds.
    pub fn apply(&self, d: u64) -> u64 {
        match self {
            Retime::Scaled(f) => f.apply(d),
            Retime::Absolute { ps, .. } => *ps,
        }
    }
    /// Whether the time comes from the model rather than the recorded duration.
    pub fn is_model(&self) -> bool {
        matches!(self.scaling(), Scaling::Model(_))
    }
}

/// The hardware on both sides of a replay and the timing mode.
#[derive(Debug, Clone, Copy)]
pub struct Retimer<'a> {
    pub src: &'a HwRates,
    pub tgt: &'a HwRates,
    /// The source system, where known: collectives are re-costed on it.
    pub src_sys: Option<&'a SystemSpec>,
    pub tgt_sys: &'a SystemSpec,
    pub timing: Timing,
}

impl Retimer<'_> {
    /// How `op` is re-timed. `bytes_mult` widens a collective's message (mHC); it only
    /// applies where the message size is known.
    pub fn retime(&self, g: &TraceGraph, op: &GpuOp, bytes_mult: u64) -> Retime {
        if self.timing == Timing::Model {
            if let Some(r) = self.model_time(g, op, bytes_mult) {
                return r;
            }
        }
        if let Some(f) = self.collective_ratio(op, bytes_mult) {
            return Retime::Scaled(f);
        }
        Retime::Scaled(factor(g, op, self.src, self.tgt))
    }

    /// The target model's time of a shaped kernel or a sized collective.
    fn model_time(&self, g: &TraceGraph, op: &GpuOp, bytes_mult: u64) -> Option<Retime> {
        if op.class.is_comm() {
            let p = predicted(op, self.tgt_sys, bytes_mult)?;
            return Some(Retime::Absolute {
                scaling: Scaling::Model("collective"),
                ps: p,
            });
        }
        let w = op_of(g, op)?;
        let t = w.time(self.tgt).ok()?;
        Some(Retime::Absolute {
            scaling: Scaling::Model(w.class()),
            ps: t.ps,
        })
    }

    /// A sized collective: the ratio of its predictions on the two systems.
    fn collective_ratio(&self, op: &GpuOp, bytes_mult: u64) -> Option<Factor> {
        let ts = predicted(op, self.src_sys?, 1)?;
        let tt = predicted(op, self.tgt_sys, bytes_mult)?;
        (ts > 0 && tt > 0).then_some(Factor {
            scaling: Scaling::Collective,
            num: tt as u128,
            den: ts as u128,
        })
    }
}

/// [`collective::predict`]'s time for a collective whose size and group the trace
/// records, on `sys`: the algorithm and protocol NCCL's tuner would pick there (not the
/// ones the kernel name records: a replay on the source system then stays exact, and on
/// another system NCCL would pick again).
fn predicted(op: &GpuOp, sys: &SystemSpec, bytes_mult: u64) -> Option<u64> {
    let OpClass::Communication(cat) = op.class else {
        return None;
    };
    let coll = collective_of(cat)?;
    let (bytes, group) = comm_bytes_and_group(op)?;
    let bytes = bytes.saturating_mul(bytes_mult);
    let p = collective::predict(sys, coll, bytes, group, None, None).ok()?;
    Some(p.time_ps)
}

/// A kernel: by the cost model on its shapes where recorded, else by the rate ratio of its
/// class, never under the target's floor.
fn kernel_factor(g: &TraceGraph, op: &GpuOp, src: &HwRates, tgt: &HwRates) -> Factor {
    if let Some(w) = op_of(g, op) {
        if let (Ok(s), Ok(t)) = (w.time(src), w.time(tgt)) {
            if s.ps > 0 && t.ps > 0 {
                return Factor {
                    scaling: Scaling::Shape(w.class()),
                    num: t.ps as u128,
                    den: s.ps as u128,
                };
            }
        }
    }
    let by_rate = match op.class {
        OpClass::Gemm | OpClass::Attention => {
            let d = kernel_dtype(g.op_name(op));
            match (src.flops(d), tgt.flops(d)) {
                (Some((s, sd)), Some((t, _))) => {
                    Factor::ratio(Scaling::Flops(sd), Some(s), Some(t))
                }
                _ => Factor::one(Scaling::Unchanged),
            }
        }
        _ => Factor::ratio(Scaling::Hbm, Some(src.hbm), Some(tgt.hbm)),
    };
    floored(
        by_rate,
        (op.dur_ns.max(0) as u64).saturating_mul(1000),
        tgt.kernels.floor_ps,
    )
}

/// `f`, or where it would make a kernel of `dur_ps` faster than the target's `floor`,
/// the factor that lands it on the floor; a kernel recorded under the floor keeps its
/// recorded time (the floor never slows one down, so a replay on the source hardware
/// stays the identity).
fn floored(f: Factor, dur_ps: u64, floor: u64) -> Factor {
    let floor = floor.min(dur_ps);
    if f.scaling == Scaling::Unchanged || dur_ps == 0 || f.apply(dur_ps) >= floor {
        return f;
    }
    Factor {
        scaling: f.scaling,
        num: floor as u128,
        den: dur_ps as u128,
    }
}

pub(crate) fn collective_of(c: CommCategory) -> Option<Collective> {
    Some(match c {
        CommCategory::AllReduce => Collective::AllReduce,
        CommCategory::AllGather => Collective::AllGather,
        CommCategory::ReduceScatter => Collective::ReduceScatter,
        CommCategory::Reduce => Collective::Reduce,
        CommCategory::Broadcast => Collective::Broadcast,
        CommCategory::AllToAll => Collective::AllToAll,
        CommCategory::SendRecv => Collective::SendRecv,
        _ => return None,
    })
}

/// Message size and group of a collective, where the trace records them: the full
/// buffer as [`collective::predict`] wants it (all-gather: output; others: input).
pub fn comm_bytes_and_group(op: &GpuOp) -> Option<(u64, u32)> {
    let OpClass::Communication(cat) = op.class else {
        return None;
    };
    let m = op.comm.as_deref()?;
    let bytes = match cat {
        CommCategory::AllGather => m.out_bytes().or(m.in_bytes()),
        _ => m.in_bytes().or(m.out_bytes()),
    }?;
    let group = m
        .group_size
        .or_else(|| m.pg_ranks.as_ref().map(|r| r.len() as u32))?;
    Some((bytes, group))
}

/// How `op` scales from `src` to `tgt` by rate ratios (a collective with a recorded
/// size goes through [`Retimer`] first).
pub fn factor(g: &TraceGraph, op: &GpuOp, src: &HwRates, tgt: &HwRates) -> Factor {
    match op.class {
        OpClass::Gemm
        | OpClass::Attention
        | OpClass::Elementwise
        | OpClass::Normalization
        | OpClass::Reduction
        | OpClass::Memset => kernel_factor(g, op, src, tgt),
        OpClass::Copy(dir) => match dir {
            CopyDir::HostToDevice => Factor::ratio(Scaling::HostH2d, Some(src.h2d), Some(tgt.h2d)),
            CopyDir::DeviceToHost => Factor::ratio(Scaling::HostD2h, Some(src.d2h), Some(tgt.d2h)),
            CopyDir::PeerToPeer => Factor::ratio(Scaling::Nvlink, src.nvlink, tgt.nvlink),
            CopyDir::DeviceToDevice => Factor::ratio(Scaling::Hbm, Some(src.hbm), Some(tgt.hbm)),
            CopyDir::HostToHost | CopyDir::Unknown => Factor::one(Scaling::Unchanged),
        },
        OpClass::Communication(_) => {
            if g.op_name(op).to_ascii_lowercase().contains("internode") {
                Factor::ratio(Scaling::Nic, src.nic, tgt.nic)
            } else {
                // Intranode DeepEP, vLLM custom all-reduce, NCCL without metadata or
                // without a known source system: the node's scale-up link.
                let f = Factor::ratio(Scaling::Nvlink, src.nvlink, tgt.nvlink);
                if f.scaling == Scaling::Unchanged {
                    Factor::ratio(Scaling::Nic, src.nic, tgt.nic)
                } else {
                    f
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_from_names() {
        assert_eq!(
            kernel_dtype("void dpsk::grouped_gemm<fp8_e4m3>"),
            Dtype::Fp8
        );
        assert_eq!(kernel_dtype("fp8_dptp128c_acc"), Dtype::Fp8);
        assert_eq!(kernel_dtype("sm90_xmma_gemm_bf16bf16"), Dtype::Bf16);
        assert_eq!(kernel_dtype("nvfp4_gemm"), Dtype::Fp4);
        assert_eq!(kernel_dtype("ampere_fp16_s16816gemm"), Dtype::Bf16);
    }

    #[test]
    fn factor_rounds() {
        let f = Factor {
            scaling: Scaling::Hbm,
            num: 1,
            den: 3,
        };
        assert_eq!(f.apply(10), 3);
        assert_eq!(f.apply(11), 4);
    }
}
