//! Per-layer costs and per-rank memory of a training run: the numbers the op graph is
//! built from. Pure arithmetic over the model, the config and the hardware.

use memwall_sim::{Ps, PS_PER_SEC};

use super::a2a::{bf16_token_bytes, fp8_token_bytes, A2aBytes, EpGeometry};
use super::config::{parse_duration, TrainConfig};
use super::hw::TrainHw;
use super::TrainError;
use memwall_llm as model;
use memwall_llm::{LayerKind, MhcConfig, ModelConfig, ModelRegistry, Pass};
use memwall_models::perf::Dtype;
use memwall_pipeline::Schedule;

/// One layer's costs. Compute times are *full-GPU* picoseconds (all SMs); they stretch
/// by S/(S-k) while a communication kernel holds k SMs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerCost {
    pub attn_f: Ps,
    pub attn_b: Ps,
    pub attn_w: Ps,
    pub mlp_f: Ps,
    pub mlp_b: Ps,
    pub mlp_w: Ps,
    /// MoE layer: dispatch / combine all-to-alls around the MLP.
    pub moe: bool,
    /// FP8 tokens (forward dispatch; backward combine sends the FP8 output gradient).
    pub a2a_fp8: A2aBytes,
    /// BF16 tokens (forward combine; backward dispatch returns the BF16 input gradient).
    pub a2a_bf16: A2aBytes,
    /// mHC residual-stream HBM time added over a plain residual: forward, backward, and
    /// the stage recompute's share for this layer.
    pub mhc_f: Ps,
    pub mhc_b: Ps,
    pub mhc_recompute: Ps,
}

/// One model stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagePlan {
    /// Global layer indices.
    pub first_layer: u32,
    pub layers: Vec<LayerCost>,
    /// Parameters held on one GPU for this stage (routed experts sharded over EP).
    pub params: u64,
    /// Activation bytes one in-flight micro-batch of this stage keeps.
    pub activation_bytes_per_chunk: u64,
    /// Transient peak while the stage's mHC kernels are recomputed.
    pub recompute_transient_bytes: u64,
}

/// Everything the graph builder needs.
#[derive(Clone, Debug)]
pub struct Plan {
    pub schedule: Schedule,
    pub hw: TrainHw,
    pub stages: Vec<StagePlan>,
    /// Bytes of one pipeline P2P message (n-fold with mHC).
    pub p2p_bytes: u64,
    /// Compute-resource share a communication kernel holds (of 1e12).
    pub comm_hold: u64,
    pub a2a_efficiency: f64,
    pub param_bytes: u64,
    pub mhc_n: u64,
    pub tokens: u64,
}

/// Layers per stage: as even as possible, the extra layers on the middle stages (the
/// end stages also hold embedding and head).
pub fn layers_per_stage(layers: u32, stages: u32) -> Vec<u32> {
    let base = layers / stages;
    let extra = layers % stages;
    let lo = (stages - extra) / 2;
    (0..stages)
        .map(|s| base + u32::from(s >= lo && s < lo + extra))
        .collect()
}

fn scaled(ps: Ps, num: u128, den: u128) -> Ps {
    if den == 0 {
        return Ps::ZERO;
    }
    Ps((ps.0 as u128 * num / den).min(u64::MAX as u128) as u64)
}

fn attn_flops(m: &ModelConfig, layer: u32, tokens: u64) -> Result<u128, TrainError> {
    let f = m.layer_forward_flops(layer, Pass::Prefill { tokens })?;
    Ok(f.attention_projection_flops as u128
        + f.attention_core_flops as u128
        + f.indexer_flops as u128)
}

fn mlp_flops(m: &ModelConfig, layer: u32, tokens: u64) -> Result<u128, TrainError> {
    Ok(m.layer_forward_flops(layer, Pass::Prefill { tokens })?
        .mlp_flops as u128)
}

/// The config's model, resolved in `models` (a relative path from the config's folder),
/// with the config's mHC setting applied.
pub fn effective_model(
    cfg: &TrainConfig,
    models: &ModelRegistry,
) -> Result<ModelConfig, TrainError> {
    let mut m = models.resolve(&cfg.model, cfg.dir.as_deref())?;
    match cfg.mhc {
        None => {}
        Some(0) | Some(1) => m.mhc = None,
        Some(n) => {
            m.mhc = Some(MhcConfig {
                n,
                sinkhorn_iters: m.mhc.as_ref().map_or(20, |h| h.sinkhorn_iters),
            })
        }
    }
    Ok(m)
}

/// Builds the plan of a run; the config's models (`model`, `reference.model`) are
/// resolved in `models`.
pub fn plan(cfg: &TrainConfig, hw: &TrainHw, models: &ModelRegistry) -> Result<Plan, TrainError> {
    cfg.validate("config")?;
    let kind = cfg.schedule_kind()?;
    let schedule = Schedule::generate(kind, cfg.pp, cfg.micro_batches)?;
    let m = effective_model(cfg, models)?;
    check_fits(cfg, hw, &m)?;
    let t = cfg.micro_batch_tokens;
    let costing = Costing::new(cfg, hw, m, models)?;
    let per_stage = layers_per_stage(costing.m.num_layers, cfg.pp);
    let mut stages = Vec::with_capacity(per_stage.len());
    let mut first = 0u32;
    for (s, &nl) in per_stage.iter().enumerate() {
        let mut stage = costing.stage(first, nl)?;
        if s == 0 {
            stage.params = stage.params.saturating_add(costing.m.embedding_params());
        }
        if s + 1 == per_stage.len() {
            stage.params = stage.params.saturating_add(costing.m.lm_head_params());
        }
        stages.push(stage);
        first += nl;
    }
    Ok(Plan {
        schedule,
        hw: hw.clone(),
        stages,
        p2p_bytes: costing.m.pipeline_message_bytes(t)?,
        comm_hold: hw.comm_hold(cfg.comm_sms),
        a2a_efficiency: cfg.a2a_efficiency,
        param_bytes: cfg.param_bytes,
        mhc_n: costing.n,
        tokens: t,
    })
}

/// The rules the config must meet on this hardware: a layer per stage, and communication
/// SMs below the SMs of the target and of the reference GPU.
fn check_fits(cfg: &TrainConfig, hw: &TrainHw, m: &ModelConfig) -> Result<(), TrainError> {
    if cfg.pp > m.num_layers {
        return Err(TrainError::TooManyStages {
            pp: cfg.pp,
            layers: m.num_layers,
        });
    }
    if cfg.comm_sms >= hw.sms() {
        return Err(TrainError::CommSms {
            comm_sms: cfg.comm_sms,
            sms: hw.sms(),
            system: hw.name.clone(),
        });
    }
    let ref_sms = hw.reference.sms.unwrap_or(0);
    if cfg.reference.comm_sms >= ref_sms {
        return Err(TrainError::ReferenceCommSms {
            comm_sms: cfg.reference.comm_sms,
            sms: ref_sms,
            gpu: hw.reference.name.clone(),
        });
    }
    Ok(())
}

/// Re-timing of measured reference phases: by the FLOP ratio of a layer to the reference
/// layer, then by the achievable rate ratio of the reference GPU to the target (attention
/// in BF16, MLP in FP8, FP8 falling back to BF16).
struct Retime {
    /// Reference phase times (F, B, W), de-contended to the full GPU.
    attn: [Ps; 3],
    mlp: [Ps; 3],
    ref_attn_flops: u128,
    ref_mlp_flops: u128,
    ref_bf16: u128,
    ref_fp8: u128,
    bf16: u128,
    fp8: u128,
}

impl Retime {
    fn new(cfg: &TrainConfig, hw: &TrainHw, models: &ModelRegistry) -> Result<Retime, TrainError> {
        let r = &cfg.reference;
        let ref_sms = hw.reference.sms.unwrap_or(0);
        let rm = models.resolve(&r.model, cfg.dir.as_deref())?;
        let ref_layer = rm.mlp.num_dense_layers.min(rm.num_layers - 1);
        let ref_attn_flops = attn_flops(&rm, ref_layer, r.tokens)?;
        let ref_mlp_flops = mlp_flops(&rm, ref_layer, r.tokens)?;
        let phase = |s: &str| -> Result<Ps, TrainError> {
            let p = parse_duration(s).map_err(TrainError::Config)?;
            Ok(scaled(p, (ref_sms - r.comm_sms) as u128, ref_sms as u128))
        };
        let attn = [phase(&r.attn_f)?, phase(&r.attn_b)?, phase(&r.attn_w)?];
        let mlp = [phase(&r.mlp_f)?, phase(&r.mlp_b)?, phase(&r.mlp_w)?];
        let rate = |r: &memwall_models::perf::HwRates, d| r.flops(d).map_or(0, |(f, _)| f as u128);
        Ok(Retime {
            attn,
            mlp,
            ref_attn_flops,
            ref_mlp_flops,
            ref_bf16: rate(&hw.reference, Dtype::Bf16),
            ref_fp8: rate(&hw.reference, Dtype::Fp8),
            bf16: hw.flops(Dtype::Bf16) as u128,
            fp8: hw.flops(Dtype::Fp8) as u128,
        })
    }

    /// Attention and MLP phase times (F, B, W) of a layer of these FLOPs.
    fn layer(&self, attn_flops: u128, mlp_flops: u128) -> ([Ps; 3], [Ps; 3]) {
        let sa = |p: Ps| {
            scaled(
                scaled(p, attn_flops, self.ref_attn_flops),
                self.ref_bf16,
                self.bf16,
            )
        };
        let sm = |p: Ps| {
            scaled(
                scaled(p, mlp_flops, self.ref_mlp_flops),
                self.ref_fp8,
                self.fp8,
            )
        };
        (self.attn.map(sa), self.mlp.map(sm))
    }
}

const NO_A2A: A2aBytes = A2aBytes {
    scale_out: 0,
    scale_up: 0,
};

/// What every layer's cost is computed from: the model, the re-timing, the all-to-all
/// bytes of a MoE layer and the mHC residual traffic.
struct Costing<'a> {
    cfg: &'a TrainConfig,
    m: ModelConfig,
    retime: Retime,
    /// Residual streams (mHC n, 1 without).
    n: u64,
    /// Experts each token is computed by (routed + shared).
    k_active: u64,
    a2a_fp8: A2aBytes,
    a2a_bf16: A2aBytes,
    mhc_f: Ps,
    mhc_b: Ps,
    recompute: bool,
}

impl<'a> Costing<'a> {
    fn new(
        cfg: &'a TrainConfig,
        hw: &TrainHw,
        m: ModelConfig,
        models: &ModelRegistry,
    ) -> Result<Self, TrainError> {
        let retime = Retime::new(cfg, hw, models)?;
        let t = cfg.micro_batch_tokens;
        let c = m.hidden_size;
        let act = m.activation_dtype;
        let n = m.residual_streams();
        let (geom, k_active) = match &m.mlp.moe {
            Some(moe) => (
                Some(EpGeometry::new(
                    cfg.ep,
                    hw.scale_up_domain(),
                    cfg.node_limit,
                    moe.experts_per_token as u32,
                )),
                moe.experts_per_token + moe.num_shared_experts,
            ),
            None => (None, 0),
        };
        let a2a_fp8 = geom.map_or(NO_A2A, |g| g.bytes(t, fp8_token_bytes(c)));
        let a2a_bf16 = geom.map_or(NO_A2A, |g| g.bytes(t, bf16_token_bytes(c)));
        // mHC residual HBM traffic added over a plain residual, per layer (two sites).
        let mhc_bytes_f = if n > 1 {
            let io = model::mhc::fused_residual_io(c, n, act).total_bytes();
            let plain = model::mhc::plain_residual_io_bytes(c, act);
            2 * io.saturating_sub(plain) as u128 * t as u128
        } else {
            0
        };
        let hbm_ps =
            |bytes: u128| Ps((bytes * PS_PER_SEC as u128 / hw.rates.hbm.max(1) as u128) as u64);
        Ok(Costing {
            cfg,
            m,
            retime,
            n,
            k_active,
            a2a_fp8,
            a2a_bf16,
            mhc_f: hbm_ps(mhc_bytes_f),
            mhc_b: hbm_ps(2 * mhc_bytes_f),
            recompute: cfg.recompute == "mhc-block",
        })
    }

    /// Stage of `nl` layers from global layer `first` (without embedding and head).
    fn stage(&self, first: u32, nl: u32) -> Result<StagePlan, TrainError> {
        let (m, c, t) = (&self.m, self.m.hidden_size, self.cfg.micro_batch_tokens);
        let mut layers = Vec::with_capacity(nl as usize);
        let mut params: u128 = 0;
        let mut act_bytes: u128 = 0;
        for l in first..first + nl {
            let cost = self.layer(l)?;
            let (all, _) = m.mlp_params(l)?;
            let mlp_held = match (&m.mlp.moe, cost.moe) {
                (Some(moe_cfg), true) => {
                    let expert = 3 * c as u128 * moe_cfg.expert_ffn_size as u128;
                    let routed = expert * moe_cfg.num_routed_experts as u128;
                    all as u128 - routed + routed.div_ceil(self.cfg.ep as u128)
                }
                _ => all as u128,
            };
            params += m.attention_params() as u128 + mlp_held + m.mhc_params() as u128;
            act_bytes += self.activation_bytes_per_token(cost.moe) * t as u128;
            layers.push(cost);
        }
        let (extra, transient) = self.mhc_memory(nl)?;
        let fit = |x: u128| u64::try_from(x).unwrap_or(u64::MAX);
        Ok(StagePlan {
            first_layer: first,
            layers,
            params: fit(params),
            activation_bytes_per_chunk: fit(act_bytes).saturating_add(extra),
            recompute_transient_bytes: transient,
        })
    }

    /// The costs of global layer `l`.
    fn layer(&self, l: u32) -> Result<LayerCost, TrainError> {
        let t = self.cfg.micro_batch_tokens;
        let af = attn_flops(&self.m, l, t)?;
        let mf = mlp_flops(&self.m, l, t)?;
        let ([attn_f, attn_b, attn_w], [mlp_f, mlp_b, mlp_w]) = self.retime.layer(af, mf);
        let moe = self.m.layer_kind(l)? == LayerKind::Moe;
        Ok(LayerCost {
            attn_f,
            attn_b,
            attn_w,
            mlp_f,
            mlp_b,
            mlp_w,
            moe,
            a2a_fp8: if moe { self.a2a_fp8 } else { NO_A2A },
            a2a_bf16: if moe { self.a2a_bf16 } else { NO_A2A },
            mhc_f: self.mhc_f,
            mhc_b: self.mhc_b,
            mhc_recompute: if self.recompute { self.mhc_f } else { Ps::ZERO },
        })
    }

    /// Activation estimate per token (bytes), see docs/training.md: attention keeps its
    /// input, latents and output in BF16; MoE keeps FP8 copies of each active expert's
    /// input and SwiGLU inputs, and its BF16 output (V3 §3.3).
    fn activation_bytes_per_token(&self, moe: bool) -> u128 {
        let m = &self.m;
        let c = m.hidden_size as u128;
        let attn_keep = 2 * (2 * c + 4 * c);
        let mlp_keep = if moe {
            let f = m.mlp.moe.as_ref().map_or(0, |x| x.expert_ffn_size) as u128;
            self.k_active as u128 * (c + 2 * f + 2 * f)
        } else {
            let f = m.mlp.dense_ffn_size as u128;
            c + 2 * f + 2 * f
        };
        attn_keep + mlp_keep
    }

    /// mHC memory of a stage of `nl` layers: activation bytes per chunk over a plain
    /// residual, and the transient peak of its recompute.
    fn mhc_memory(&self, nl: u32) -> Result<(u64, u64), TrainError> {
        if self.n <= 1 {
            return Ok((0, 0));
        }
        let policy = if self.recompute {
            model::mhc::RecomputePolicy::BlockRecompute {
                sites_per_block: 2 * nl as u64,
            }
        } else {
            model::mhc::RecomputePolicy::None
        };
        let m = &self.m;
        let t = self.cfg.micro_batch_tokens;
        let a = model::mhc::activation_memory(
            m.hidden_size,
            self.n,
            2 * nl as u64,
            t,
            1,
            m.activation_dtype,
            policy,
        )?;
        Ok((a.extra_over_plain_bytes_per_chunk, a.transient_peak_bytes))
    }
}

/// A plan for one overlapped F&B chunk pair on one rank, as in the DeepSeek profile: the
/// forward chunk runs `fwd` (in order), the backward chunk processes `bwd` in the order
/// given (its first entry is interleaved with the forward's first layer). Communication
/// costs come from `base` (its first MoE layer); P2P is excluded, as in the profile.
pub fn chunk_pair_plan(base: &Plan, fwd: Vec<LayerCost>, bwd: Vec<LayerCost>) -> Plan {
    use memwall_pipeline::{Chunk, Direction, Op, OpKind};
    let chunk = |stage| Chunk {
        direction: Direction::A,
        micro_batch: 0,
        stage,
    };
    let schedule = Schedule {
        kind: base.schedule.kind,
        num_ranks: 1,
        num_stages: 2,
        num_micro_batches: 1,
        ranks: vec![vec![Op {
            kind: OpKind::ForwardBackward {
                forward: chunk(0),
                backward: chunk(1),
            },
            deps: Vec::new(),
        }]],
    };
    let mut bwd = bwd;
    bwd.reverse();
    let stage = |layers: Vec<LayerCost>| StagePlan {
        first_layer: 0,
        layers,
        params: 0,
        activation_bytes_per_chunk: 0,
        recompute_transient_bytes: 0,
    };
    Plan {
        schedule,
        stages: vec![stage(fwd), stage(bwd)],
        ..base.clone()
    }
}

/// Layer costs from measured phase times (measured while `comm_sms` of `sms` SMs were
/// held by communication), with the all-to-all bytes of `moe_layer`.
pub fn layer_from_measured(
    phases: &[Ps; 6],
    sms: u32,
    comm_sms: u32,
    moe_layer: &LayerCost,
) -> LayerCost {
    let d = |p: Ps| scaled(p, (sms - comm_sms) as u128, sms as u128);
    LayerCost {
        attn_f: d(phases[0]),
        attn_b: d(phases[1]),
        attn_w: d(phases[2]),
        mlp_f: d(phases[3]),
        mlp_b: d(phases[4]),
        mlp_w: d(phases[5]),
        moe: true,
        a2a_fp8: moe_layer.a2a_fp8,
        a2a_bf16: moe_layer.a2a_bf16,
        mhc_f: Ps::ZERO,
        mhc_b: Ps::ZERO,
        mhc_recompute: Ps::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_stage_split() {
        let s = layers_per_stage(61, 16);
        assert_eq!(s.iter().sum::<u32>(), 61);
        assert_eq!((s[0], s[15], s[7]), (3, 3, 4));
    }

    #[test]
    fn v3_h800_plan_reproduces_reference_times() {
        let cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
        let hw = TrainHw::shipped("deepseek-h800-cluster", &cfg).unwrap();
        let p = plan(&cfg, &hw, &ModelRegistry::builtin()).unwrap();
        // a MoE layer on the reference GPU: reference time x 112/132
        let l = p.stages[1].layers[0];
        assert!(l.moe);
        assert_eq!(l.attn_f, Ps(4_370_000_000u64 * 112 / 132));
        assert_eq!(l.mhc_f, Ps::ZERO);
        assert_eq!(p.p2p_bytes, 4096 * 7168 * 2);
        assert!(l.a2a_fp8.scale_out > 90_000_000);
        // a dense layer: MLP re-timed by its FLOPs
        assert!(!p.stages[0].layers[0].moe);
    }
}
