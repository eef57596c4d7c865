//! Elementwise, normalisation and reduction kernels: HBM-bound, with the GPU's floor;
//! and kernels known only by their totals.

use super::{finish, finish_at, ps_for, rate, CostError, OpTime};
use crate::perf::{Dtype, HwRates};

/// A kernel that moves `bytes` through HBM (read plus written) and whose arithmetic
/// hides behind that traffic: at the profile's effective bandwidth of memory-bound
/// kernels where it has one (`[kernels] memory_bandwidth`, calibrated), else the HBM's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryOp {
    pub bytes: u128,
}

impl MemoryOp {
    pub fn time(&self, r: &HwRates) -> OpTime {
        finish_at(
            r,
            r.kernels.memory_bw.unwrap_or(r.hbm),
            0,
            0,
            self.bytes,
            None,
        )
    }
}

/// A kernel known only by its totals (a fused attention over a batch of sequences of
/// mixed lengths, where no single shape describes it): `flops` at the dtype's rate
/// against `bytes` of HBM traffic, with the floor; no tile or wave terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roofline {
    pub flops: u128,
    pub bytes: u128,
    pub dtype: Dtype,
}

impl Roofline {
    pub fn time(&self, r: &HwRates) -> Result<OpTime, CostError> {
        let (per_sec, used) = rate(r, self.dtype)?;
        let compute = ps_for(self.flops, per_sec);
        Ok(finish(r, compute, self.flops, self.bytes, Some(used)))
    }
}
