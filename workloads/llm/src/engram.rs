//! Compute hook for an Engram conditional-memory module (arXiv 2601.07372;
//! engram.md §1.7, §1.8; v4.md §4.2), given its dimensions as numbers. Lookup traffic and
//! placement live elsewhere (Engram traces, models/); this is the per-token math only.

use serde::Serialize;

use super::derived::fit;
use super::ModelError;

/// Dimensions of one Engram layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EngramDims {
    /// Rows read per token: n-gram orders x heads per order (V4.1: 3 x 8 = 24).
    pub rows_per_token: u64,
    /// Width of one row (V4.1: 256; the paper's 27B: 80).
    pub row_dim: u64,
    /// Model hidden size C.
    pub hidden: u64,
    /// Residual streams (mHC n, 1 without mHC): one key projection per stream.
    pub hc_mult: u64,
    /// Depthwise short-conv kernel size (the demo: 4); 0 if the module has none (V4.1).
    pub conv_kernel: u64,
    /// Bytes of one stored row including scales (V4.1: 264).
    pub row_bytes: u64,
}

/// Forward FLOPs of one Engram layer for one token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct EngramFlops {
    /// Key projections (one per stream) and the shared value projection:
    /// 2 E (hc + 1) C with E = rows x row_dim (V4.1 fuses them into one `wkv` GEMM).
    pub projection_flops: u64,
    /// Gates: one C-wide dot product per stream plus the two RMSNorms (about 6C each).
    pub gating_flops: u64,
    /// Depthwise causal conv over hc x C channels: 2 k hc C.
    pub short_conv_flops: u64,
}

impl EngramFlops {
    pub fn total_flops(&self) -> u64 {
        self.projection_flops + self.gating_flops + self.short_conv_flops
    }
}

impl EngramDims {
    /// Concatenated memory width E = rows x row_dim.
    pub fn memory_width(&self) -> u64 {
        self.rows_per_token * self.row_dim
    }

    /// Per-token forward FLOPs (training backward: 2x).
    pub fn forward_flops_per_token(&self) -> Result<EngramFlops, ModelError> {
        let e = self.memory_width() as u128;
        let c = self.hidden as u128;
        let hc = self.hc_mult.max(1) as u128;
        Ok(EngramFlops {
            projection_flops: fit(2 * e * (hc + 1) * c, "engram flops")?,
            gating_flops: fit(hc * 6 * c, "engram flops")?,
            short_conv_flops: fit(2 * self.conv_kernel as u128 * hc * c, "engram flops")?,
        })
    }

    /// Table bytes gathered per token (rows x row_bytes).
    pub fn gathered_bytes_per_token(&self) -> u64 {
        self.rows_per_token * self.row_bytes
    }

    /// Projection weights (key per stream + value) in elements.
    pub fn projection_params(&self) -> u64 {
        self.memory_width() * (self.hc_mult.max(1) + 1) * self.hidden
    }
}
