//! Attention as FlashAttention-style kernels run it: one pass over the KV cache per
//! (batch, head) query tile, compute- or HBM-bound by shape.

use super::{at_least_one, finish, rate, waves_ps, CostError, OpTime};
use crate::perf::{Dtype, HwRates};

/// Prefill (causal, query tiles over SMs) or decode (split-KV: every SM busy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Prefill,
    Decode,
}

/// `batch` sequences of `q_len` new queries attending to `kv_len` keys (the new ones
/// included), `heads` query heads sharing `kv_heads` KV heads (MHA: equal; GQA/MQA:
/// fewer; MLA absorbed: one latent head with `head_dim` = latent + rope width and
/// `v_head_dim` = latent width).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attention {
    pub batch: u64,
    pub q_len: u64,
    pub kv_len: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub v_head_dim: u64,
    pub phase: Phase,
    /// Causal mask: each query sees the keys up to its own position.
    pub causal: bool,
    pub dtype: Dtype,
}

impl Attention {
    /// Keys each query attends to on average: all of them without a mask; under the
    /// causal mask, with the queries the last `q_len` positions, `kv - (q - 1)/2`.
    fn keys_per_query(&self) -> u128 {
        let (q, kv) = (self.q_len as u128, self.kv_len.max(self.q_len) as u128);
        if self.causal {
            kv - (q - 1) / 2
        } else {
            kv
        }
    }

    pub fn time(&self, r: &HwRates) -> Result<OpTime, CostError> {
        let b = at_least_one(self.batch, "batch")?;
        let q = at_least_one(self.q_len, "q_len")?;
        at_least_one(self.kv_len, "kv_len")?;
        let h = at_least_one(self.heads, "heads")?;
        let g = at_least_one(self.kv_heads, "kv_heads")?;
        let d = at_least_one(self.head_dim, "head_dim")?;
        let dv = at_least_one(self.v_head_dim, "v_head_dim")?;
        let (rate, used) = rate(r, self.dtype)?;
        let flops = 2 * b * h * q * self.keys_per_query() * (d + dv);
        let blocks = match self.phase {
            Phase::Prefill => b * h * q.div_ceil(r.kernels.tile_m.max(1) as u128),
            Phase::Decode => 0,
        };
        let compute = match self.phase {
            Phase::Prefill => waves_ps(r, blocks, flops, rate),
            Phase::Decode => super::ps_for(flops, rate),
        };
        let kv = self.kv_len.max(self.q_len) as u128;
        let elems = b * q * h * (d + dv) + b * kv * g * (d + dv);
        Ok(finish(
            r,
            compute,
            flops,
            self.dtype.operand_bytes(elems),
            Some(used),
        ))
    }
}
