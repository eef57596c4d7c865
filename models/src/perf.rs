//! How fast is X on this hardware: the achievable rates that re-timing a recorded
//! kernel on another GPU divides by. Collectives are costed in [`crate::collective`].
//!
//! Everything here is pure arithmetic on resolved specs: no simulation, no traces.
//! Rates are the *achievable* figures of the profiles (measured, or peak x efficiency),
//! never the peaks (DESIGN.md §2, summarised in docs/sources.md).

use crate::spec::{GpuSpec, KernelSpec, SystemSpec};
use memwall_sim::PS_PER_SEC;

/// Share of a GPU's compute resource (capacity [`PS_PER_SEC`], "picoseconds of the whole
/// GPU per second") that a kernel on `sms` of the GPU's `total` SMs holds: compute that
/// overlaps it runs on the other `total - sms` SMs. 0 when `total` is unknown or 0.
pub fn sm_hold(sms: u32, total: Option<u32>) -> u64 {
    match total {
        Some(total) if total > 0 => {
            (PS_PER_SEC as u128 * sms.min(total) as u128 / total as u128) as u64
        }
        _ => 0,
    }
}

/// Number format a compute-bound kernel runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dtype {
    /// BF16 or FP16 (the same tensor-core rate on every profiled part).
    Bf16,
    Fp8,
    Fp4,
    /// FP32 inputs on TF32 tensor cores.
    Tf32,
    /// FP32 on CUDA cores / vector units.
    Fp32,
}

impl Dtype {
    pub const ALL: [Dtype; 5] = [
        Dtype::Fp32,
        Dtype::Tf32,
        Dtype::Bf16,
        Dtype::Fp8,
        Dtype::Fp4,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Dtype::Bf16 => "bf16",
            Dtype::Fp8 => "fp8",
            Dtype::Fp4 => "fp4",
            Dtype::Tf32 => "tf32",
            Dtype::Fp32 => "fp32",
        }
    }

    /// The dtype named `s` (`fp16` and `half` are BF16-class).
    pub fn parse(s: &str) -> Option<Dtype> {
        Some(match s.to_ascii_lowercase().as_str() {
            "bf16" | "fp16" | "half" | "bfloat16" | "float16" => Dtype::Bf16,
            "fp8" | "e4m3" | "e5m2" => Dtype::Fp8,
            "fp4" | "nvfp4" | "mxfp4" => Dtype::Fp4,
            "tf32" => Dtype::Tf32,
            "fp32" | "float" | "float32" => Dtype::Fp32,
            _ => return None,
        })
    }

    /// Bytes per element of an input operand (FP4 rounds up to one byte per two values
    /// in [`Dtype::operand_bytes`]).
    pub fn operand_bytes(self, elements: u128) -> u128 {
        match self {
            Dtype::Fp32 | Dtype::Tf32 => elements * 4,
            Dtype::Bf16 => elements * 2,
            Dtype::Fp8 => elements,
            Dtype::Fp4 => elements.div_ceil(2),
        }
    }

    /// Bytes per element of a GEMM's output: FP32 for FP32 inputs, BF16 otherwise.
    pub fn output_bytes(self, elements: u128) -> u128 {
        match self {
            Dtype::Fp32 | Dtype::Tf32 => elements * 4,
            _ => elements * 2,
        }
    }
}

/// The achievable rates of one GPU in its system, in bytes/s and FLOP/s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HwRates {
    /// Profile name (GPU or system).
    pub name: String,
    pub sms: Option<u32>,
    pub bf16: Option<u64>,
    pub fp8: Option<u64>,
    pub fp4: Option<u64>,
    pub tf32: Option<u64>,
    pub fp32: Option<u64>,
    /// HBM, bytes/s.
    pub hbm: u64,
    /// Host link, host to device and device to host, bytes/s.
    pub h2d: u64,
    pub d2h: u64,
    /// Scale-up link per direction, bytes/s, and its latency.
    pub nvlink: Option<u64>,
    pub nvlink_latency_ps: u64,
    /// GPUs reachable over the scale-up link.
    pub nvlink_domain: u32,
    /// Scale-out bandwidth per GPU (all NICs the GPU uses), bytes/s, and latency.
    pub nic: Option<u64>,
    pub nic_latency_ps: u64,
    /// Per-kernel terms of the op cost model, and the CPU launch cost per kernel.
    pub kernels: KernelSpec,
    pub kernel_launch_ps: u64,
}

impl HwRates {
    /// Rates of a GPU part alone: no NIC, an NVLink domain of 8 where it has a
    /// scale-up link (an HGX board).
    pub fn from_gpu(g: &GpuSpec) -> HwRates {
        HwRates {
            name: g.name.clone(),
            sms: g.sms,
            bf16: g.compute.bf16.map(|r| r.achievable),
            fp8: g.compute.fp8.map(|r| r.achievable),
            fp4: g.compute.fp4.map(|r| r.achievable),
            tf32: g.compute.tf32.map(|r| r.achievable),
            fp32: g.compute.fp32.map(|r| r.achievable),
            hbm: g.hbm_bandwidth.achievable,
            h2d: g.host_link.bandwidth.achievable,
            d2h: g.host_link.reverse_achievable,
            nvlink: g.scale_up_link.as_ref().map(|l| l.bandwidth.achievable),
            nvlink_latency_ps: g.scale_up_link.as_ref().map_or(0, |l| l.latency_ps),
            nvlink_domain: if g.scale_up_link.is_some() { 8 } else { 1 },
            nic: None,
            nic_latency_ps: 0,
            kernels: g.kernels,
            kernel_launch_ps: g.kernel_launch_ps,
        }
    }

    /// Rates of GPU 0 of a system: its own host link (switch port or C2C share), the
    /// system's NVLink domain, and the NICs GPU 0 uses.
    pub fn from_system(s: &SystemSpec) -> HwRates {
        let n = &s.node;
        let mut r = HwRates::from_gpu(&n.gpu);
        r.name = s.name.clone();
        if let Some(g0) = n.gpus.first() {
            r.h2d = g0.host_link.bandwidth.achievable;
            r.d2h = g0.host_link.reverse_achievable;
        }
        match &n.nvlink {
            Some(nv) => {
                r.nvlink = Some(nv.link.bandwidth.achievable);
                r.nvlink_latency_ps = nv.link.latency_ps;
                r.nvlink_domain = nv.domain_size;
            }
            None => {
                r.nvlink = None;
                r.nvlink_domain = 1;
            }
        }
        if let Some(nic) = &n.nic {
            let count = n.gpus.first().map_or(1, |g| g.nics.len().max(1)) as u64;
            r.nic = Some(nic.bandwidth.achievable.saturating_mul(count));
            r.nic_latency_ps = nic.latency_ps;
        }
        r
    }

    /// Share of this GPU's compute resource that a kernel on `sms` SMs holds ([`sm_hold`]).
    pub fn sm_hold(&self, sms: u32) -> u64 {
        sm_hold(sms, self.sms)
    }

    /// The profile's own achievable FLOP/s for `d`, if it has that format.
    pub fn rate_of(&self, d: Dtype) -> Option<u64> {
        match d {
            Dtype::Bf16 => self.bf16,
            Dtype::Fp8 => self.fp8,
            Dtype::Fp4 => self.fp4,
            Dtype::Tf32 => self.tf32,
            Dtype::Fp32 => self.fp32,
        }
        .filter(|&v| v > 0)
    }

    /// Achievable FLOP/s for `d`, and the dtype actually used: a GPU without a narrow
    /// format (A100 has no FP8) runs it as BF16; without TF32, FP32 GEMMs run on the FP32
    /// units; FP32 has no fallback.
    pub fn flops(&self, d: Dtype) -> Option<(u64, Dtype)> {
        let fallback = match d {
            Dtype::Bf16 | Dtype::Fp32 => None,
            Dtype::Fp8 | Dtype::Fp4 => Some(Dtype::Bf16),
            Dtype::Tf32 => Some(Dtype::Fp32),
        };
        match self.rate_of(d) {
            Some(v) => Some((v, d)),
            None => fallback.and_then(|f| self.rate_of(f).map(|v| (v, f))),
        }
    }
}

/// A small made-up GPU for unit tests: 100 SMs, BF16 only, NVLink domain of 8 and a NIC.
#[cfg(test)]
pub(crate) fn test_rates() -> HwRates {
    HwRates {
        name: "x".into(),
        sms: Some(100),
        bf16: Some(10),
        fp8: None,
        fp4: None,
        tf32: None,
        fp32: None,
        hbm: 1,
        h2d: 1,
        d2h: 1,
        nvlink: Some(300),
        nvlink_latency_ps: 5,
        nvlink_domain: 8,
        nic: Some(25),
        nic_latency_ps: 7,
        kernels: KernelSpec {
            floor_ps: 0,
            tile_m: 1,
            tile_n: 1,
            tile_min: 1,
            graph_launch_ps: 0,
            memory_bw: None,
            gemm_memory_bw: None,
            given: false,
        },
        kernel_launch_ps: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtype_fallback_and_sm_hold() {
        let r = test_rates();
        assert_eq!(r.flops(Dtype::Fp8), Some((10, Dtype::Bf16)));
        assert_eq!(r.sm_hold(20), PS_PER_SEC / 5);
        assert_eq!(sm_hold(200, Some(100)), PS_PER_SEC);
        assert_eq!(sm_hold(20, None), 0);
    }
}
