//! mHC (manifold-constrained hyper-connections) accounting, from the mHC paper
//! (arXiv 2512.24880 §3.2 Table 2, §4.3) as worked through in mhc_dualpipe.md
//! §2.3, §2.4, §2.7. Per token, per residual *site* (a transformer block has two:
//! attention and FFN), forward pass, excluding the internal I/O of the layer function F.

use serde::Serialize;

use super::config::Dtype;
use super::derived::fit;
use super::ModelError;

/// Residual-path HBM traffic of one site for one token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct ResidualIo {
    /// Stream elements read and written, at the activation dtype.
    pub read_elements: u64,
    pub write_elements: u64,
    pub stream_bytes: u64,
    /// FP32 mixing coefficients (n^2 + 2n) written once and read once.
    pub coefficient_bytes: u64,
}

impl ResidualIo {
    pub fn total_bytes(&self) -> u64 {
        self.stream_bytes + self.coefficient_bytes
    }
}

/// Standard residual merge: read 2C, write C.
pub fn plain_residual_io_bytes(hidden: u64, act: Dtype) -> u64 {
    act.bytes_for(3 * hidden)
}

/// mHC with the paper's fused kernels: reads nC (coefficient GEMM) + nC (F_pre) +
/// (n+1)C (F_post,res) = (3n+1)C; writes C (F_pre output) + nC (new stream) = (n+1)C.
/// At n = 4, C = 7168, bf16: 258,048 stream bytes (6x a plain residual).
pub fn fused_residual_io(hidden: u64, n: u64, act: Dtype) -> ResidualIo {
    let read = (3 * n + 1) * hidden;
    let write = (n + 1) * hidden;
    ResidualIo {
        read_elements: read,
        write_elements: write,
        stream_bytes: act.bytes_for(read + write),
        coefficient_bytes: 2 * Dtype::Fp32.bytes_for(n * n + 2 * n),
    }
}

/// Unfused HC (paper Table 2 total): reads (5n+1)C + n^2 + 2n, writes (3n+1)C + n^2 + 2n,
/// all at the activation dtype as the table counts elements.
pub fn unfused_hc_residual_io(hidden: u64, n: u64, act: Dtype) -> ResidualIo {
    let small = n * n + 2 * n;
    let read = (5 * n + 1) * hidden + small;
    let write = (3 * n + 1) * hidden + small;
    ResidualIo {
        read_elements: read,
        write_elements: write,
        stream_bytes: act.bytes_for(read + write),
        coefficient_bytes: 0,
    }
}

/// Parameters of one site: phi (nC x (n^2+2n)), bias (n^2+2n) and 3 scales.
pub fn site_params(hidden: u64, n: u64) -> u64 {
    let mix = n * n + 2 * n;
    n * hidden * mix + mix + 3
}

/// Sinkhorn-Knopp FLOPs for one token and site: exp of n^2 entries, then per iteration a
/// row and a column normalisation (n^2 adds + n^2 divides each).
pub fn sinkhorn_flops(n: u64, iters: u64) -> u64 {
    n * n + iters * 4 * n * n
}

/// Forward FLOPs of one site for one token: coefficient GEMM 2nC(n^2+2n), Sinkhorn,
/// applying H_pre (2nC) and H_post / H_res (2nC + 2n^2C).
pub fn site_forward_flops(hidden: u64, n: u64, sinkhorn_iters: u64) -> u64 {
    let gemm = 2 * n * hidden * (n * n + 2 * n);
    let apply = 2 * n * hidden + 2 * n * hidden + 2 * n * n * hidden;
    gemm + sinkhorn_flops(n, sinkhorn_iters) + apply
}

/// Bytes of one pipeline P2P message for a micro-batch of `tokens`: tokens x n x C at
/// `act` (n = 1 for a plain residual). Activations forward and gradients backward are the
/// same size; mHC makes both n-fold.
pub fn pipeline_message_bytes(
    tokens: u64,
    hidden: u64,
    n: u64,
    act: Dtype,
) -> Result<u64, ModelError> {
    let e = tokens as u128 * n as u128 * hidden as u128;
    let b = (e * act.bits() as u128).div_ceil(8);
    fit(b, "pipeline message bytes")
}

/// How mHC activations are kept for backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum RecomputePolicy {
    /// Keep every site's stream input (nC) and F output (C): (n+1)C per site.
    None,
    /// The paper's policy: keep the block input x_{l0} (nC) once per block and each site's
    /// F output (C); recompute the mHC kernels (not F) in backward, a transient
    /// (n+2)C per site of the block. The paper uses one block per pipeline stage.
    BlockRecompute { sites_per_block: u64 },
}

/// mHC activation memory of one pipeline rank.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MhcActivationMemory {
    /// mHC-related activation bytes resident per in-flight micro-batch (chunk).
    pub resident_bytes_per_chunk: u64,
    /// Extra resident bytes per chunk over a plain pre-norm residual: (n-1)C per block
    /// with block recompute, nC per site without.
    pub extra_over_plain_bytes_per_chunk: u64,
    /// Resident bytes over all in-flight chunks.
    pub resident_bytes: u64,
    /// Transient peak while one block is recomputed (0 without recomputation).
    pub transient_peak_bytes: u64,
}

/// Activation memory of mHC streams on one rank holding `sites` residual sites per
/// chunk (2 per transformer block), `in_flight_chunks` chunks (DualPipe: PP+1) of
/// `tokens` tokens each.
pub fn activation_memory(
    hidden: u64,
    n: u64,
    sites: u64,
    tokens: u64,
    in_flight_chunks: u64,
    act: Dtype,
    policy: RecomputePolicy,
) -> Result<MhcActivationMemory, ModelError> {
    if n == 0 {
        return Err(ModelError::Argument {
            field: "n",
            problem: "residual streams must be at least 1".into(),
        });
    }
    let c = hidden as u128;
    let (n, s, t) = (n as u128, sites as u128, tokens as u128);
    let bits = act.bits() as u128;
    let bytes = |elements: u128| (elements * bits).div_ceil(8);
    // `extra`: elements over a plain pre-norm residual, which stores each site's C-wide
    // input. With block recompute the F outputs stand in for the next sites' inputs, so
    // the increase is the wider block input: (n-1)C per block (mhc_dualpipe.md §2.4).
    let (resident, transient, extra) = match policy {
        RecomputePolicy::None => ((n + 1) * c * s, 0u128, n * c * s),
        RecomputePolicy::BlockRecompute { sites_per_block } => {
            if sites_per_block == 0 {
                return Err(ModelError::Argument {
                    field: "sites_per_block",
                    problem: "must be at least 1".into(),
                });
            }
            let l = sites_per_block as u128;
            let blocks = s.div_ceil(l);
            (
                n * c * blocks + c * s,
                (n + 2) * c * l.min(s.max(1)),
                (n - 1) * c * blocks,
            )
        }
    };
    let per_chunk = bytes(resident * t);
    Ok(MhcActivationMemory {
        resident_bytes_per_chunk: fit(per_chunk, "mhc activation bytes")?,
        extra_over_plain_bytes_per_chunk: fit(bytes(extra * t), "mhc activation bytes")?,
        resident_bytes: fit(per_chunk * in_flight_chunks as u128, "mhc activation bytes")?,
        transient_peak_bytes: fit(bytes(transient * t), "mhc activation bytes")?,
    })
}

/// The paper's optimal recompute block size sqrt(nL/(n+2)) for L sites (eq. 20).
pub fn optimal_recompute_block(n: u64, sites: u64) -> f64 {
    ((n * sites) as f64 / (n + 2) as f64).sqrt()
}
