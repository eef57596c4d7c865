//! Per-layer compute time by roofline on the GPU profile: FLOPs at the achievable rate
//! against HBM bytes at the achievable bandwidth, whichever is longer, plus kernel launch
//! overhead. Dense backbones and MoE (active experts only; expert weights split over the
//! expert-parallel group, touched experts from the whole node's tokens), and the Engram
//! module's own compute (projections, gating, short conv).

use memwall_models::GpuSpec;
use memwall_sim::{Ps, PS_PER_SEC};

use memwall_llm::engram::EngramDims;
use memwall_llm::{expected_distinct_experts, LayerKind, Pass, StepShape};
use memwall_llm::{Attention, Dtype, ModelConfig};

use super::batcher::SeqWork;
use super::error::ScenarioError;

/// A group of layers with identical cost (same FFN kind and attention compression).
#[derive(Debug, Clone)]
struct LayerClass {
    rep: u32,
    dense_bytes: u64,
    routed: u64,
}

#[derive(Debug, Clone)]
pub struct CostModel {
    pub model: ModelConfig,
    class_of: Vec<usize>,
    classes: Vec<LayerClass>,
    flop_rate: u64,
    hbm_bw: u64,
    launch: Ps,
    pub kernels_per_layer: u64,
    pub cuda_graph_decode: bool,
    ep: u64,
    expert_bytes: u64,
    lm_head_bytes: u64,
}

fn ps_for(amount: u128, per_sec: u64) -> u128 {
    (amount * PS_PER_SEC as u128).div_ceil(per_sec.max(1) as u128)
}

impl CostModel {
    pub fn new(
        model: ModelConfig,
        gpu: &GpuSpec,
        ep: u64,
        kernels_per_layer: u64,
        cuda_graph_decode: bool,
        efficiency: f64,
    ) -> Result<Self, ScenarioError> {
        // One engine-wide factor on the achievable rates (the engine's kernels reach this
        // share of them); 1.0 = the profile's achievable figures.
        let eff = |x: u64| ((x as f64) * efficiency).max(1.0) as u64;
        let rate = match model.weight_dtype {
            Dtype::Fp8 => gpu.compute.fp8.or(gpu.compute.bf16),
            _ => gpu.compute.bf16,
        }
        .ok_or_else(|| ScenarioError::NoComputeRate {
            gpu: gpu.name.clone(),
            dtype: format!("{:?}", model.weight_dtype),
        })?;
        let mut keys: Vec<(LayerKind, u64)> = Vec::new();
        let mut class_of = Vec::new();
        let mut classes = Vec::new();
        for l in 0..model.num_layers {
            let kind = model.layer_kind(l)?;
            let ratio = match &model.attention {
                Attention::Compressed(a) => a.compress_ratios[l as usize],
                _ => 0,
            };
            let key = (kind, ratio);
            let c = match keys.iter().position(|k| *k == key) {
                Some(c) => c,
                None => {
                    keys.push(key);
                    let (dense_bytes, routed) = model.layer_weight_bytes(l)?;
                    classes.push(LayerClass {
                        rep: l,
                        dense_bytes,
                        routed,
                    });
                    keys.len() - 1
                }
            };
            class_of.push(c);
        }
        let expert_bytes = model.routed_expert_bytes();
        let lm_head_bytes = model
            .weight_dtype
            .bytes_for(model.vocab_size * model.hidden_size);
        Ok(CostModel {
            class_of,
            classes,
            flop_rate: eff(rate.achievable),
            hbm_bw: eff(gpu.hbm_bandwidth.achievable),
            launch: Ps(gpu.kernel_launch_ps),
            kernels_per_layer,
            cuda_graph_decode,
            ep: ep.max(1),
            expert_bytes,
            lm_head_bytes,
            model,
        })
    }

    pub fn num_layers(&self) -> u32 {
        self.model.num_layers
    }

    /// Weight bytes per GPU resident in HBM (experts split over the EP group).
    pub fn weight_bytes_per_gpu(&self) -> Result<u64, ScenarioError> {
        let mut t = self.lm_head_bytes as u128 * 2;
        for l in 0..self.model.num_layers {
            let (dense, routed) = self.model.layer_weight_bytes(l)?;
            t += dense as u128 + (routed as u128 * self.expert_bytes as u128) / self.ep as u128;
        }
        Ok(t.min(u64::MAX as u128) as u64)
    }

    /// KV bytes per cached token over all layers.
    pub fn kv_bytes_per_token(&self) -> Result<u64, ScenarioError> {
        let mut t = 0u64;
        for l in 0..self.model.num_layers {
            t += self.model.kv_cache_bytes_per_token(l)?;
        }
        Ok(t.max(1))
    }

    /// Time of each layer class for one step of `work` on this GPU; `node_tokens` is the
    /// whole node's token count this step (which experts are touched).
    pub fn class_times(
        &self,
        work: &[SeqWork],
        prefill: bool,
        node_tokens: u64,
        out: &mut Vec<Ps>,
    ) -> Result<(), ScenarioError> {
        out.clear();
        let per_layer_launch = if !prefill && self.cuda_graph_decode {
            Ps::ZERO
        } else {
            Ps(self.launch.0 * self.kernels_per_layer)
        };
        for c in &self.classes {
            let mut flops: u128 = 0;
            let mut bytes: u128 = c.dense_bytes as u128;
            if c.routed > 0 {
                if let Some(m) = &self.model.mlp.moe {
                    let touched = expected_distinct_experts(
                        m.num_routed_experts,
                        m.experts_per_token,
                        node_tokens,
                    );
                    bytes += touched as u128 * self.expert_bytes as u128 / self.ep as u128;
                }
            }
            for w in work {
                let f = if prefill {
                    let end = self
                        .model
                        .layer_forward_flops(
                            c.rep,
                            Pass::Prefill {
                                tokens: (w.ctx + w.new) as u64,
                            },
                        )?
                        .total_flops();
                    let start = if w.ctx == 0 {
                        0
                    } else {
                        self.model
                            .layer_forward_flops(
                                c.rep,
                                Pass::Prefill {
                                    tokens: w.ctx as u64,
                                },
                            )?
                            .total_flops()
                    };
                    end.saturating_sub(start)
                } else {
                    self.model
                        .layer_forward_flops(
                            c.rep,
                            Pass::Decode {
                                context_len: w.ctx as u64,
                            },
                        )?
                        .total_flops()
                };
                flops += f as u128;
                let b = self.model.layer_hbm_bytes(
                    c.rep,
                    &StepShape {
                        sequences: 1,
                        new_tokens_per_sequence: w.new as u64,
                        context_len: w.ctx as u64,
                    },
                )?;
                bytes += (b.residual_bytes + b.kv_read_bytes + b.kv_write_bytes) as u128;
            }
            let t = ps_for(flops, self.flop_rate).max(ps_for(bytes, self.hbm_bw));
            out.push(Ps(t.min(u64::MAX as u128) as u64) + per_layer_launch);
        }
        Ok(())
    }

    /// Time of layers `range` given the class times.
    pub fn range_time(&self, class_times: &[Ps], range: std::ops::Range<u32>) -> Ps {
        let mut t = Ps::ZERO;
        for l in range {
            t += class_times[self.class_of[l as usize]];
        }
        t
    }

    /// The output head for `sampled` tokens, plus one launch per step.
    pub fn head_time(&self, sampled: u64, prefill: bool) -> Ps {
        let flops =
            2 * self.model.vocab_size as u128 * self.model.hidden_size as u128 * sampled as u128;
        let t = ps_for(flops, self.flop_rate).max(ps_for(self.lm_head_bytes as u128, self.hbm_bw));
        let launches = if !prefill && self.cuda_graph_decode {
            1
        } else {
            2
        };
        Ps(t as u64) + Ps(self.launch.0 * launches)
    }

    /// The Engram module of one layer for `tokens` tokens: projections, gating and conv
    /// by roofline (reading the gathered rows and the projection weights from HBM).
    pub fn engram_time(
        &self,
        dims: &EngramDims,
        tokens: u64,
        kernels: u64,
        prefill: bool,
    ) -> Result<Ps, ScenarioError> {
        let f = dims.forward_flops_per_token()?.total_flops() as u128 * tokens as u128;
        let bytes = dims.gathered_bytes_per_token() as u128 * tokens as u128
            + self.model.weight_dtype.bytes_for(dims.projection_params()) as u128
            + 2 * self
                .model
                .activation_dtype
                .bytes_for(dims.hidden * dims.hc_mult.max(1)) as u128
                * tokens as u128;
        let t = ps_for(f, self.flop_rate).max(ps_for(bytes, self.hbm_bw));
        let launch = if !prefill && self.cuda_graph_decode {
            0
        } else {
            kernels
        };
        Ok(Ps(t as u64) + Ps(self.launch.0 * launch))
    }
}
