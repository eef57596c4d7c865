//! Elementwise, normalisation and reduction kernels: HBM-bound, with the GPU's floor.

use super::{finish, OpTime};
use crate::perf::HwRates;

/// A kernel that moves `bytes` through HBM (read plus written) and whose arithmetic
/// hides behind that traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryOp {
    pub bytes: u128,
}

impl MemoryOp {
    pub fn time(&self, r: &HwRates) -> OpTime {
        finish(r, 0, 0, self.bytes, None)
    }
}
