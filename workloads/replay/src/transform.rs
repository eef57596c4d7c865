//! What-if transforms applied while the replay graph is built (docs/replay.md §4).

use memwall_kineto::{CommCategory, CopyDir, GpuOp, OpClass, TraceGraph};
use memwall_models::tiers::TierConfig;

/// Widen the residual stream to `n` x C (mHC). Touched, by name and class:
/// - normalisation kernels (`*norm*`: they read the residual stream) and elementwise
///   kernels whose name contains `add` (the residual add): their HBM traffic, hence
///   duration, grows n-fold;
/// - pipeline point-to-point traffic (the tensors that cross stages): `SendRecv`
///   collectives (message size × n, re-costed) and peer-to-peer copies (× n).
///
/// Not touched: GEMMs, attention, expert all-to-all (DeepEP dispatch/combine carry the
/// layer input after the mHC mixing, width C), and the mixing kernels mHC adds (not in a
/// trace captured without mHC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MhcWiden {
    pub n: u32,
}

impl MhcWiden {
    /// Duration multiplier for a memory-bound kernel or copy; 1 when untouched.
    pub fn duration_mult(&self, g: &TraceGraph, op: &GpuOp) -> u64 {
        let name = g.op_name(op).to_ascii_lowercase();
        match op.class {
            OpClass::Normalization => self.n as u64,
            OpClass::Elementwise if name.contains("add") => self.n as u64,
            OpClass::Copy(CopyDir::PeerToPeer) => self.n as u64,
            _ => 1,
        }
    }
    /// Message-size multiplier for a communication kernel.
    pub fn bytes_mult(&self, op: &GpuOp) -> u64 {
        match op.class {
            OpClass::Communication(CommCategory::SendRecv) => self.n as u64,
            _ => 1,
        }
    }
}

/// Insert one Engram lookup before each chosen "layer" of the main compute stream.
///
/// A layer starts at an op whose phase label or kernel name contains `anchor` (case
/// insensitive) when the op before it on the main stream does not: the k-th such run is
/// layer k. The lookup is a side-stream op that the anchor op depends on; it is issued
/// when the op `prefetch_ops` places before the anchor on the main stream ends (0: on
/// demand, right before the anchor), since its row ids depend only on the tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct EngramInsert {
    pub anchor: String,
    /// Layer indices (occurrences of the anchor); `None`: every occurrence.
    pub layers: Option<Vec<usize>>,
    /// Rows gathered per lookup (tokens x heads x n-gram orders).
    pub rows: u64,
    pub row_bytes: u64,
    /// The fetch tier the table lives in (`memwall_models::tiers`), e.g. host-zero-copy.
    pub placement: TierConfig,
    /// Socket whose DRAM holds a host table (default: each GPU's own).
    pub host_socket: Option<usize>,
    pub prefetch_ops: u32,
}

impl EngramInsert {
    pub fn matches(&self, g: &TraceGraph, op: &GpuOp) -> bool {
        let a = self.anchor.to_ascii_lowercase();
        g.op_name(op).to_ascii_lowercase().contains(&a)
            || g.phase_label(op)
                .is_some_and(|p| p.to_ascii_lowercase().contains(&a))
    }
}
