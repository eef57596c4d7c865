//! Measurements of one GPU's own run, in the cost model's terms: what a calibration
//! (`memwall calibrate --kineto`) fits the model to. A trace importer fills it; the
//! fitting knows nothing of traces.

use super::Op;
use crate::collective::Collective;

/// One kernel's time beside the op it ran (from its recorded shapes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeasuredOp {
    pub op: Op,
    /// Device time, picoseconds, as the whole GPU would have taken it (time shared with
    /// concurrent kernels removed).
    pub ps: u64,
}

/// One collective's time with its message size (nccl-tests' convention) and group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeasuredCollective {
    pub collective: Collective,
    pub bytes: u64,
    pub ranks: u32,
    pub ps: u64,
}

/// What one run measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Measurements {
    /// Kernels whose work is known (recorded shapes).
    pub ops: Vec<MeasuredOp>,
    pub collectives: Vec<MeasuredCollective>,
    /// CPU cost of each eager kernel launch call and of each graph launch, picoseconds.
    pub launches_ps: Vec<u64>,
    pub graph_launches_ps: Vec<u64>,
    /// Every kernel's device time (shaped or not), picoseconds: the floor where no
    /// shaped memory-bound kernel can fit it.
    pub kernels_ps: Vec<u64>,
}
