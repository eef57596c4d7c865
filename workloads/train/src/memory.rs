//! HBM per rank: parameters, FP32 gradients, the optimizer shard and peak activations,
//! against the GPU's capacity.

use super::plan::{rank_stages, Plan};
use super::TrainError;

/// Bytes of optimizer state per parameter of the shard (V3 §3.3.3: FP32 master weights,
/// BF16 first and second moments; training_step.md §5).
pub const OPTIMIZER_STATE_BYTES: u64 = 8;

/// What one rank (one GPU) holds at its peak.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RankMemory {
    pub rank: u32,
    pub stages: Vec<u32>,
    /// Parameters of the held stages (`param_bytes` each), their FP32 gradients, the
    /// optimizer state of the GPU's ZeRO-1 shard.
    pub params: u64,
    pub grads: u64,
    pub optimizer: u64,
    /// The held stage with the most activations per chunk, its bytes per chunk, the
    /// rank's peak in-flight chunks, and the transient of one stage's mHC recompute.
    pub stage: u32,
    pub chunk_bytes: u64,
    pub chunks: u32,
    pub transient: u64,
}

impl RankMemory {
    /// Peak activations: in-flight chunks of the largest held stage, plus the transient.
    pub fn activations(&self) -> u64 {
        self.chunk_bytes
            .saturating_mul(self.chunks as u64)
            .saturating_add(self.transient)
    }

    pub fn total(&self) -> u64 {
        self.params
            .saturating_add(self.grads)
            .saturating_add(self.optimizer)
            .saturating_add(self.activations())
    }
}

/// The peak HBM of every rank of `plan`.
pub fn memory(plan: &Plan) -> Vec<RankMemory> {
    let s = &plan.schedule;
    let peaks = s.peak_in_flight_activations();
    rank_stages(s)
        .into_iter()
        .enumerate()
        .map(|(r, st)| {
            let stage = |k: u32| &plan.stages[k as usize];
            let params: u64 = st.iter().map(|&k| stage(k).params).sum();
            let experts: u64 = st.iter().map(|&k| stage(k).expert_params).sum();
            let largest = st
                .iter()
                .copied()
                .max_by_key(|&k| (stage(k).activation_bytes_per_chunk, u32::MAX - k))
                .unwrap_or(0);
            let shard = plan.dp.shard(params.saturating_sub(experts), experts);
            RankMemory {
                rank: r as u32,
                params: params.saturating_mul(plan.param_bytes),
                grads: params.saturating_mul(plan.dp.grad_bytes),
                optimizer: shard.saturating_mul(OPTIMIZER_STATE_BYTES),
                stage: largest,
                chunk_bytes: st
                    .iter()
                    .map(|&k| stage(k).activation_bytes_per_chunk)
                    .max()
                    .unwrap_or(0),
                chunks: peaks.get(r).copied().unwrap_or(0),
                transient: st
                    .iter()
                    .map(|&k| stage(k).recompute_transient_bytes)
                    .max()
                    .unwrap_or(0),
                stages: st,
            }
        })
        .collect()
}

/// Fails on the first rank whose peak exceeds the GPU's HBM, naming its stage and the
/// numbers.
pub fn check_memory(plan: &Plan) -> Result<Vec<RankMemory>, TrainError> {
    let all = memory(plan);
    let cap = plan.hw.hbm_capacity;
    if let Some(m) = all.iter().find(|m| m.total() > cap) {
        let gb = |b: u64| format!("{:.1} GB", b as f64 / 1e9);
        return Err(TrainError::OutOfMemory {
            rank: m.rank,
            stage: m.stage,
            system: plan.hw.name.clone(),
            detail: format!(
                "needs {} of HBM, the GPU has {}: parameters {}, FP32 gradients {}, \
                 optimizer shard {}, activations {} ({} in-flight chunks of stage {} at {}{})",
                gb(m.total()),
                gb(cap),
                gb(m.params),
                gb(m.grads),
                gb(m.optimizer),
                gb(m.activations()),
                m.chunks,
                m.stage,
                gb(m.chunk_bytes),
                if m.transient > 0 {
                    format!(", plus {} of mHC recompute", gb(m.transient))
                } else {
                    String::new()
                }
            ),
        });
    }
    Ok(all)
}
