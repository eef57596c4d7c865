//! GEMM and grouped GEMM (MoE experts).

use super::{at_least_one, finish_at, rate, waves_ps, CostError, OpTime};
use crate::perf::{Dtype, HwRates};

/// `batch` independent `(m x k) · (k x n)` products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gemm {
    pub m: u64,
    pub n: u64,
    pub k: u64,
    pub batch: u64,
    pub dtype: Dtype,
}

/// The tile edge a GEMM library uses for a dimension of `dim`: the profile's large-GEMM
/// tile, or for smaller dimensions the next power of two, at least `min`.
fn tile(dim: u64, max: u32, min: u32) -> u128 {
    let max = max.max(1) as u64;
    if dim >= max {
        max as u128
    } else {
        dim.next_power_of_two().clamp(min.max(1) as u64, max) as u128
    }
}

/// Work units of a GEMM of `tiles` output tiles: with fewer tiles than SMs, the library
/// splits K (split-K / stream-K) so that every SM gets a share, `floor(SMs / tiles)` parts
/// per tile; otherwise one unit per tile. (A split that depended on K would let a larger
/// K run faster; this one cannot.)
fn split_k(r: &HwRates, tiles: u128) -> u128 {
    match r.sms {
        Some(sms) if (sms as u128) > tiles && tiles > 0 => tiles * (sms as u128 / tiles),
        _ => tiles,
    }
}

/// A GEMM's time from its compute term and its bytes, these moved at the profile's
/// effective bandwidth of memory-bound GEMMs where it has one (`[kernels]
/// gemm_memory_bandwidth`, calibrated), else the HBM's.
fn finish_gemm(r: &HwRates, compute: u128, flops: u128, bytes: u128, used: Dtype) -> OpTime {
    let bw = r.kernels.gemm_memory_bw.unwrap_or(r.hbm);
    finish_at(r, bw, compute, flops, bytes, Some(used))
}

impl Gemm {
    pub fn time(&self, r: &HwRates) -> Result<OpTime, CostError> {
        let m = at_least_one(self.m, "m")?;
        let n = at_least_one(self.n, "n")?;
        let k = at_least_one(self.k, "k")?;
        let b = at_least_one(self.batch, "batch")?;
        let (rate, used) = rate(r, self.dtype)?;
        let ks = &r.kernels;
        let (tm, tn) = (
            tile(self.m, ks.tile_m, ks.tile_min),
            tile(self.n, ks.tile_n, ks.tile_min),
        );
        let tiles = m.div_ceil(tm) * n.div_ceil(tn) * b;
        let compute = waves_ps(r, split_k(r, tiles), tiles * 2 * tm * tn * k, rate);
        let bytes = b * (self.dtype.operand_bytes(m * k + k * n) + self.dtype.output_bytes(m * n));
        Ok(finish_gemm(r, compute, 2 * m * n * k * b, bytes, used))
    }
}

/// One grouped GEMM over the experts of a MoE layer: expert `e` multiplies
/// `tokens[e]` rows by its own `(k x n)` weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupedGemm {
    pub tokens: Vec<u64>,
    pub n: u64,
    pub k: u64,
    pub dtype: Dtype,
}

impl GroupedGemm {
    /// `tokens` routed rows over `experts` experts, the busiest expert getting
    /// `imbalance` times the mean (at least 1.0; capped at all the rows) and the others
    /// sharing the rest evenly (lower indices take the remainder).
    pub fn routed(tokens: u64, experts: u64, imbalance: f64, n: u64, k: u64, dtype: Dtype) -> Self {
        let experts = experts.max(1);
        let mean = tokens as f64 / experts as f64;
        let hot = ((mean * imbalance.max(1.0)).ceil() as u64)
            .max(tokens.div_ceil(experts))
            .min(tokens);
        let rest = tokens - hot;
        let others = experts - 1;
        let mut counts = vec![hot];
        for i in 0..others {
            counts.push(rest / others + u64::from(i < rest % others));
        }
        GroupedGemm {
            tokens: counts,
            n,
            k,
            dtype,
        }
    }

    pub fn time(&self, r: &HwRates) -> Result<OpTime, CostError> {
        let n = at_least_one(self.n, "n")?;
        let k = at_least_one(self.k, "k")?;
        let (rate, used) = rate(r, self.dtype)?;
        let ks = &r.kernels;
        let tn = tile(self.n, ks.tile_n, ks.tile_min);
        let (mut tiles, mut work, mut rows, mut touched) = (0u128, 0u128, 0u128, 0u128);
        for &t in self.tokens.iter().filter(|&&t| t > 0) {
            let tm = tile(t, ks.tile_m, ks.tile_min);
            let expert_tiles = (t as u128).div_ceil(tm) * n.div_ceil(tn);
            tiles += expert_tiles;
            work += expert_tiles * 2 * tm * tn * k;
            rows += t as u128;
            touched += 1;
        }
        let compute = waves_ps(r, split_k(r, tiles), work, rate);
        let bytes = self.dtype.operand_bytes(touched * k * n + rows * k)
            + self.dtype.output_bytes(rows * n);
        Ok(finish_gemm(r, compute, 2 * rows * n * k, bytes, used))
    }
}
