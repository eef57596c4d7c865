//! Per-layer costs and per-rank memory of a training run: the numbers the op graph is
//! built from. Pure arithmetic over the model, the config and the hardware.

use memwall_models::collective::{predict_placed, Collective, Prediction};
use memwall_models::cost::{Gemm, MemoryOp};
use memwall_sim::{Ps, PS_PER_SEC};

use super::a2a::{bf16_token_bytes, fp8_token_bytes, A2aBytes, EpGeometry};
use super::config::{parse_duration, TrainConfig};
use super::hw::TrainHw;
use super::TrainError;
use memwall_llm as model;
use memwall_llm::{Dtype as DtypeL, LayerKind, MhcConfig, ModelConfig, ModelRegistry, Pass};
use memwall_models::perf::Dtype;
use memwall_pipeline::Schedule;

/// What a stage entry is: a transformer block, or the work of the first and last
/// stages around the blocks (V3 §2.2, §3.2.3: embedding, output head, MTP module;
/// training_step.md §3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    #[default]
    Block,
    Embedding,
    Head,
    /// The MTP module's projection of [norm(h); norm(emb)] (d x 2d).
    MtpProjection,
}

/// One layer's costs. Compute times are *full-GPU* picoseconds (all SMs); they stretch
/// by S/(S-k) while a communication kernel holds k SMs. Embedding, head and MTP
/// projection entries keep their work in the MLP phases (no attention, no all-to-all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerCost {
    pub role: Role,
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
    /// The MLP site's F_post,res kernels (the rest of the mHC traffic is in `mhc_f`,
    /// `mhc_b`): HBM time, forward and backward. They run after the MLP's combine, on
    /// the high-priority stream with the adjusted overlap, else on the compute stream.
    pub mhc_post_f: Ps,
    pub mhc_post_b: Ps,
    /// Rate caps (ps of full GPU per second) of the phases attention F, B, W, MLP F, B,
    /// W: their SM-bound kernels (persistent GEMMs on the SMs left to compute) do not
    /// speed up when no communication kernel holds SMs ([`sm_cap`]). None: all SMs.
    pub caps: [Option<u64>; 6],
}

/// Rate cap of a phase whose kernel time is `share` SM-bound on `sms - comm_sms` SMs,
/// the rest spreading over all `sms`: alone it runs at 1 / (share x S/(S-k) + 1 - share)
/// of the full GPU; beside communication (S-k of S SMs left) at (S-k)/S, as before.
pub fn sm_cap(share: f64, sms: u32, comm_sms: u32) -> Option<u64> {
    if share <= 0.0 || comm_sms == 0 || comm_sms >= sms {
        return None;
    }
    let stretch = sms as f64 / (sms - comm_sms) as f64;
    let frac = 1.0 / (share * stretch + 1.0 - share);
    Some((PS_PER_SEC as f64 * frac).round() as u64)
}

impl LayerCost {
    /// Compute time of the entry's forward, backward-input and weight-gradient work.
    pub fn compute(&self) -> Ps {
        self.attn_f + self.attn_b + self.attn_w + self.mlp_f + self.mlp_b + self.mlp_w
    }
}

/// One model stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagePlan {
    /// Global layer indices.
    pub first_layer: u32,
    pub layers: Vec<LayerCost>,
    /// Parameters held on one GPU for this stage (routed experts sharded over EP).
    pub params: u64,
    /// Of those, the routed experts' (their gradients reduce over the expert's copies).
    pub expert_params: u64,
    /// Per entry of `layers`: its parameters held on one GPU and of those the routed
    /// experts' (a gradient bucket each).
    pub entry_params: Vec<(u64, u64)>,
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
    /// The adjusted DualPipe overlap of mHC is on (only with mHC): the MLP's F_post,res
    /// kernels run on the high-priority stream.
    pub mhc_overlap: bool,
    pub dp: DpPlan,
}

/// The data-parallel end of a step (ZeRO-1, V3 §3.2, §3.3.3): each stage's FP32
/// gradients reduce-scattered over the stage's copies, a global gradient norm (clipping
/// at 1.0, V3 §4.2), the AdamW update of each GPU's shard, the parameters all-gathered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DpPlan {
    /// Copies of a stage's dense (non-routed) parameters in the cluster: dp x the ranks
    /// holding the stage (DualPipe's mirror copy makes 2); of a routed expert: dp / ep
    /// x the same.
    pub dense_group: u32,
    pub expert_group: u32,
    /// GPUs of the cluster (dp x ranks per pipeline).
    pub world: u32,
    /// Bytes per parameter of a reduced gradient (FP32, V3 §3.3.3) and of a gathered
    /// parameter.
    pub grad_bytes: u64,
    pub param_bytes: u64,
    /// Bytes of the end-of-step all-reduce over the whole cluster: the FP32 gradient
    /// norm (clipping at 1.0, V3 §4.2) and the FP32 load of every routed expert of every
    /// MoE layer, which the auxiliary-loss-free bias update needs at the end of each step
    /// (V3 §2.1.2).
    pub norm_bytes: u64,
    /// Members of the dense and of the expert group sharing one node (NVLink domain):
    /// an EP group fills whole nodes when it has a domain or more of GPUs (V3: EP64
    /// over 8 nodes), so a stage's dense copies sit min(domain, ep) to a node and the
    /// copies of a routed expert, each in another EP group, domain / ep (at least 1).
    pub dense_per_node: u32,
    pub expert_per_node: u32,
    /// The gradient-norm and expert-load all-reduce over the whole cluster, as the
    /// collective model picks it.
    pub norm: Prediction,
}

/// HBM bytes AdamW moves per parameter of its shard (V3 §3.3.3: FP32 master weights and
/// gradients, BF16 moments; training_step.md §5): reads gradient 4, master 4, m 2, v 2;
/// writes master 4, m 2, v 2 and the BF16 working copy 2.
pub const ADAM_BYTES_PER_PARAM: u64 = 22;

impl DpPlan {
    /// The fastest way (NCCL's pick, [`memwall_models::collective`]) to run `c` of
    /// `bytes` over `group` GPUs of `hw`'s system placed `per_node` to a node.
    pub fn predict(
        hw: &TrainHw,
        c: Collective,
        bytes: u64,
        group: u32,
        per_node: u32,
    ) -> Result<Prediction, TrainError> {
        Ok(predict_placed(&hw.system, c, bytes, group, per_node)?)
    }

    /// The GPU's shard of `dense` and `expert` parameters it holds.
    pub fn shard(&self, dense: u64, expert: u64) -> u64 {
        dense.div_ceil(self.dense_group.max(1) as u64)
            + expert.div_ceil(self.expert_group.max(1) as u64)
    }

    /// AdamW over a shard of `params`: a memory-bound kernel of the op cost model.
    pub fn optimizer_ps(&self, params: u64, hw: &TrainHw) -> Ps {
        let op = MemoryOp {
            bytes: params as u128 * ADAM_BYTES_PER_PARAM as u128,
        };
        Ps(op.time(&hw.rates).ps)
    }
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
    let (head, tail) = costing.end_entries(hw)?;
    let mean_layer = costing.mean_layer()?;
    let extra = |s: u32| -> Ps {
        let mut e = Ps::ZERO;
        if s == 0 {
            e += head.iter().map(LayerCost::compute).sum::<Ps>();
        }
        if s + 1 == cfg.pp {
            e += tail.iter().map(LayerCost::compute).sum::<Ps>();
        }
        e
    };
    let extras: Vec<Ps> = (0..cfg.pp).map(extra).collect();
    let per_stage = balanced_layers(costing.m.num_layers, &extras, mean_layer);
    let mut stages = Vec::with_capacity(per_stage.len());
    let mut first = 0u32;
    for (s, &nl) in per_stage.iter().enumerate() {
        let mut stage = costing.stage(first, nl)?;
        if s == 0 {
            costing.add_entries(&mut stage, &head, true);
        }
        if s + 1 == per_stage.len() {
            costing.add_entries(&mut stage, &tail, false);
        }
        stages.push(stage);
        first += nl;
    }
    let copies = stage_copies(&schedule);
    let world = cfg.dp.saturating_mul(schedule.num_ranks);
    let norm_bytes = GRAD_BYTES + GRAD_BYTES * costing.expert_loads()?;
    let domain = hw.scale_up_domain();
    let dp = DpPlan {
        dense_group: cfg.dp.saturating_mul(copies),
        expert_group: (cfg.dp / cfg.ep).max(1).saturating_mul(copies),
        world,
        grad_bytes: GRAD_BYTES,
        param_bytes: cfg.param_bytes,
        norm_bytes,
        dense_per_node: domain.min(cfg.ep.max(1)),
        expert_per_node: (domain / cfg.ep.max(1)).max(1),
        norm: DpPlan::predict(hw, Collective::AllReduce, norm_bytes, world, u32::MAX)?,
    };
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
        mhc_overlap: costing.overlap,
        dp,
    })
}

/// Bytes of a reduced gradient per parameter: FP32 (V3 §3.3.3, training_step.md §5).
const GRAD_BYTES: u64 = 4;

/// Ranks holding each stage: 2 under DualPipe (rank r holds stages r and PP-1-r, and
/// rank PP-1-r the same two), 1 otherwise.
pub fn stage_copies(s: &Schedule) -> u32 {
    let held = rank_stages(s);
    let mut count = vec![0u32; s.num_stages as usize];
    for st in held.iter().flatten() {
        if let Some(c) = count.get_mut(*st as usize) {
            *c += 1;
        }
    }
    count.into_iter().max().unwrap_or(1).max(1)
}

/// Stages each rank holds.
pub fn rank_stages(s: &Schedule) -> Vec<Vec<u32>> {
    let mut v: Vec<Vec<u32>> = vec![Vec::new(); s.ranks.len()];
    for (r, ops) in s.ranks.iter().enumerate() {
        for op in ops {
            for c in [op.kind.forward_chunk(), op.kind.backward_chunk()]
                .into_iter()
                .flatten()
            {
                if !v[r].contains(&c.stage) {
                    v[r].push(c.stage);
                }
            }
        }
        v[r].sort_unstable();
    }
    v
}

/// Layers per stage so that each stage's compute (its layers at `layer` each, plus
/// `extra[s]`: embedding on the first, head and MTP on the last) is as even as possible:
/// each layer goes to the least loaded stage, ties to the stage nearest the middle.
/// With no extras this is [`layers_per_stage`].
pub fn balanced_layers(layers: u32, extra: &[Ps], layer: Ps) -> Vec<u32> {
    let n = extra.len();
    let mut count = vec![0u32; n];
    let mut load: Vec<u128> = extra.iter().map(|e| e.0 as u128).collect();
    let mid = |s: usize| (2 * s as i64 - (n as i64 - 1)).unsigned_abs();
    // Every stage needs a layer first (plan checks pp <= layers).
    for c in count.iter_mut().take(layers as usize) {
        *c = 1;
    }
    for (l, c) in load.iter_mut().zip(&count) {
        *l += *c as u128 * layer.0 as u128;
    }
    for _ in n.min(layers as usize)..layers as usize {
        let Some(s) = (0..n).min_by_key(|&s| (load[s], mid(s), s)) else {
            break;
        };
        count[s] += 1;
        load[s] += layer.0 as u128;
    }
    count
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
    /// Phase rate caps on the target GPU (see [`sm_cap`]).
    caps: [Option<u64>; 6],
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
            caps: r
                .sm_bound
                .to_array()
                .map(|s| sm_cap(s, hw.sms(), cfg.comm_sms)),
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
    /// mHC HBM time per layer over a plain residual: on the compute stream (forward)
    /// and the MLP site's F_post,res.
    mhc_f: Ps,
    mhc_post_f: Ps,
    recompute: bool,
    overlap: bool,
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
        let overlap = cfg.mhc_overlap && n > 1;
        let (rest, post) = mhc_layer_bytes(c, n, act, cfg.mhc_fused);
        let hbm_ps = |bytes: u128| {
            Ps((bytes * t as u128 * PS_PER_SEC as u128 / hw.rates.hbm.max(1) as u128) as u64)
        };
        Ok(Costing {
            cfg,
            m,
            retime,
            n,
            k_active,
            a2a_fp8,
            a2a_bf16,
            mhc_f: hbm_ps(rest),
            mhc_post_f: hbm_ps(post),
            recompute: cfg.recompute == "mhc-block",
            overlap,
        })
    }

    /// Routed experts summed over the MoE layers: the expert loads a step counts.
    fn expert_loads(&self) -> Result<u64, TrainError> {
        let experts = self.m.mlp.moe.as_ref().map_or(0, |x| x.num_routed_experts);
        let mut n = 0u64;
        for l in 0..self.m.num_layers {
            if self.m.layer_kind(l)? == LayerKind::Moe {
                n = n.saturating_add(experts);
            }
        }
        Ok(n)
    }

    /// Mean compute (F + B + W) of the model's blocks, for balancing stages.
    fn mean_layer(&self) -> Result<Ps, TrainError> {
        let mut sum: u128 = 0;
        for l in 0..self.m.num_layers {
            sum += self.layer(l)?.compute().0 as u128;
        }
        Ok(Ps((sum / self.m.num_layers.max(1) as u128) as u64))
    }

    /// The first stage's entries before its blocks (the embedding) and the last stage's
    /// after them: the output head, then per MTP depth (V3 §2.2) the projection, one
    /// block shaped as the model's last, and the shared head again.
    fn end_entries(&self, hw: &TrainHw) -> Result<(Vec<LayerCost>, Vec<LayerCost>), TrainError> {
        let ends = EndCosts::new(&self.m, self.cfg.micro_batch_tokens, hw)?;
        let mut tail = vec![ends.head];
        for _ in 0..self.m.mtp_layers {
            tail.push(ends.projection);
            tail.push(self.layer(self.m.num_layers - 1)?);
            tail.push(ends.head);
        }
        Ok((vec![ends.embedding], tail))
    }

    /// Adds end entries (and their parameters) to a stage, before or after its blocks.
    /// The head is one, shared by the main model and the MTP module (V3 §2.2): its
    /// parameters go with the first head entry.
    fn add_entries(&self, stage: &mut StagePlan, entries: &[LayerCost], before: bool) {
        let m = &self.m;
        let mut head_seen = false;
        let mut params = Vec::with_capacity(entries.len());
        for e in entries {
            let p = match e.role {
                Role::Embedding => (m.embedding_params(), 0),
                Role::Head if !head_seen => {
                    head_seen = true;
                    (m.lm_head_params(), 0)
                }
                Role::Head => (0, 0),
                Role::MtpProjection => (2 * m.hidden_size * m.hidden_size, 0),
                Role::Block => self.block_params(m.num_layers - 1),
            };
            stage.params = stage.params.saturating_add(p.0);
            stage.expert_params = stage.expert_params.saturating_add(p.1);
            params.push(p);
        }
        if before {
            let mut v = entries.to_vec();
            v.append(&mut stage.layers);
            stage.layers = v;
            params.append(&mut stage.entry_params);
            stage.entry_params = params;
        } else {
            stage.layers.extend_from_slice(entries);
            stage.entry_params.extend(params);
        }
    }

    /// Parameters one GPU holds of block `l`, and of those the routed experts' (sharded
    /// over EP).
    fn block_params(&self, l: u32) -> (u64, u64) {
        let (m, c) = (&self.m, self.m.hidden_size as u128);
        let all = m.mlp_params(l).map_or(0, |(a, _)| a as u128);
        let moe = m.layer_kind(l).is_ok_and(|k| k == LayerKind::Moe);
        let routed_held = match (&m.mlp.moe, moe) {
            (Some(x), true) => {
                let routed = 3 * c * x.expert_ffn_size as u128 * x.num_routed_experts as u128;
                (routed, routed.div_ceil(self.cfg.ep as u128))
            }
            _ => (0, 0),
        };
        let held = m.attention_params() as u128 + all - routed_held.0
            + routed_held.1
            + m.mhc_params() as u128;
        let fit = |x: u128| u64::try_from(x).unwrap_or(u64::MAX);
        (fit(held), fit(routed_held.1))
    }

    /// Stage of `nl` layers from global layer `first` (without embedding and head).
    fn stage(&self, first: u32, nl: u32) -> Result<StagePlan, TrainError> {
        let t = self.cfg.micro_batch_tokens;
        let mut layers = Vec::with_capacity(nl as usize);
        let (mut params, mut experts): (u128, u128) = (0, 0);
        let mut act_bytes: u128 = 0;
        let mut entry_params = Vec::with_capacity(nl as usize);
        for l in first..first + nl {
            let cost = self.layer(l)?;
            let (held, routed) = self.block_params(l);
            entry_params.push((held, routed));
            params += held as u128;
            experts += routed as u128;
            act_bytes += self.activation_bytes_per_token(cost.moe) * t as u128;
            layers.push(cost);
        }
        let (extra, transient) = self.mhc_memory(nl)?;
        let fit = |x: u128| u64::try_from(x).unwrap_or(u64::MAX);
        Ok(StagePlan {
            first_layer: first,
            layers,
            params: fit(params),
            expert_params: fit(experts),
            entry_params,
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
        // Backward moves twice the forward's residual traffic; the stage recompute
        // (mHC paper §4.3.2) re-runs one forward's worth of both parts.
        Ok(LayerCost {
            role: Role::Block,
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
            mhc_b: Ps(2 * self.mhc_f.0),
            mhc_recompute: if self.recompute {
                self.mhc_f + self.mhc_post_f
            } else {
                Ps::ZERO
            },
            mhc_post_f: self.mhc_post_f,
            mhc_post_b: Ps(2 * self.mhc_post_f.0),
            caps: self.caps(),
        })
    }

    /// The phase rate caps. With mHC's adjusted overlap the attention layers use no
    /// persistent kernels (mHC paper §4.3.3: so that the high-priority stream can
    /// pre-empt them), so their phases spread over every SM.
    fn caps(&self) -> [Option<u64>; 6] {
        let mut caps = self.retime.caps;
        if self.overlap {
            caps[..3].fill(None);
        }
        caps
    }

    /// Activation estimate per token (bytes), see docs/training.md: attention keeps its
    /// input, latents and output in BF16; MoE keeps FP8 copies of each active expert's
    /// input and SwiGLU inputs, the SwiGLU output being recomputed (V3 §3.3.3).
    fn activation_bytes_per_token(&self, moe: bool) -> u128 {
        let m = &self.m;
        let c = m.hidden_size as u128;
        let attn_keep = 2 * (2 * c + 4 * c);
        let mlp_keep = if moe {
            let f = m.mlp.moe.as_ref().map_or(0, |x| x.expert_ffn_size) as u128;
            self.k_active as u128 * (c + 2 * f)
        } else {
            let f = m.mlp.dense_ffn_size as u128;
            c + 2 * f
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

/// mHC residual HBM bytes per token and layer (two sites) over a plain residual: the
/// MLP site's F_post,res part (which the adjusted overlap moves to the high-priority
/// stream) and the rest, as (rest, F_post,res). Fused sites move
/// (3n+1)C reads and (n+1)C writes, F_post,res (n+1)C and nC of them; unfused HC moves
/// the mHC paper's Table 2 total, H_post, H_res and the merge (3n+1)C and 3nC of it
/// (mhc_dualpipe.md §2.3).
fn mhc_layer_bytes(c: u64, n: u64, act: DtypeL, fused: bool) -> (u128, u128) {
    if n <= 1 {
        return (0, 0);
    }
    let plain = model::mhc::plain_residual_io_bytes(c, act) as u128;
    let (site, post) = if fused {
        let io = model::mhc::fused_residual_io(c, n, act);
        (
            io.total_bytes(),
            act.bytes_for((2 * n + 1) * c) + io.coefficient_bytes,
        )
    } else {
        let io = model::mhc::unfused_hc_residual_io(c, n, act);
        (io.total_bytes(), act.bytes_for((6 * n + 1) * c))
    };
    let total = 2 * (site as u128).saturating_sub(plain);
    let post = (post as u128).saturating_sub(plain).min(total);
    (total - post, post)
}

/// Costs of the entries around the blocks for a micro-batch of `t` tokens, by the op
/// cost model on the target GPU: the embedding (a gather forward, a scatter-add into
/// FP32 gradients), the output head (BF16 GEMMs, V3 §3.3: logits, input gradient,
/// weight gradient; softmax cross-entropy reading the logits and writing their
/// gradient) and the MTP projection (BF16 GEMMs of d x 2d).
struct EndCosts {
    embedding: LayerCost,
    head: LayerCost,
    projection: LayerCost,
}

impl EndCosts {
    fn new(m: &ModelConfig, t: u64, hw: &TrainHw) -> Result<EndCosts, TrainError> {
        let r = &hw.rates;
        let (c, v) = (m.hidden_size, m.vocab_size);
        let gemm = |m_: u64, n: u64, k: u64| -> Result<Ps, TrainError> {
            let g = Gemm {
                m: m_,
                n,
                k,
                batch: 1,
                dtype: Dtype::Bf16,
            };
            Ok(Ps(g.time(r)?.ps))
        };
        let mem = |bytes: u128| Ps(MemoryOp { bytes }.time(r).ps);
        let (t128, c128, v128) = (t as u128, c as u128, v as u128);
        let entry = |role, f, b, w| LayerCost {
            role,
            mlp_f: f,
            mlp_b: b,
            mlp_w: w,
            ..LayerCost::default()
        };
        Ok(EndCosts {
            embedding: entry(
                Role::Embedding,
                mem(t128 * c128 * 4),
                Ps::ZERO,
                mem(t128 * c128 * (2 + 4 + 4)),
            ),
            head: entry(
                Role::Head,
                gemm(t, v, c)? + mem(t128 * v128 * 4),
                gemm(t, c, v)?,
                gemm(c, v, t)?,
            ),
            projection: entry(
                Role::MtpProjection,
                gemm(t, c, 2 * c)?,
                gemm(t, 2 * c, c)?,
                gemm(2 * c, c, t)?,
            ),
        })
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
        expert_params: 0,
        entry_params: Vec::new(),
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
/// held by communication) and their SM-bound parts (`bound`, see [`sm_cap`]), with the
/// all-to-all bytes of `moe_layer`.
pub fn layer_from_measured(
    phases: &[Ps; 6],
    bound: &[Ps; 6],
    sms: u32,
    comm_sms: u32,
    moe_layer: &LayerCost,
) -> LayerCost {
    let d = |p: Ps| scaled(p, (sms - comm_sms) as u128, sms as u128);
    let share = |i: usize| bound[i].0 as f64 / phases[i].0.max(1) as f64;
    let caps = std::array::from_fn(|i| sm_cap(share(i), sms, comm_sms));
    LayerCost {
        role: Role::Block,
        attn_f: d(phases[0]),
        attn_b: d(phases[1]),
        attn_w: d(phases[2]),
        mlp_f: d(phases[3]),
        mlp_b: d(phases[4]),
        mlp_w: d(phases[5]),
        moe: true,
        a2a_fp8: moe_layer.a2a_fp8,
        a2a_bf16: moe_layer.a2a_bf16,
        caps,
        ..LayerCost::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sm_bound_phases_keep_their_speed_alone() {
        // Wholly SM-bound: alone at (S-k)/S of the GPU, as beside communication.
        let c = sm_cap(1.0, 132, 20).unwrap();
        assert_eq!(c, (PS_PER_SEC as f64 * 112.0 / 132.0).round() as u64);
        assert_eq!(sm_cap(0.0, 132, 20), None);
        assert_eq!(sm_cap(0.5, 132, 0), None);
        // A phase measured at T (its work T x 112/132 of the full GPU) with 40 % SM-bound
        // takes 0.4 T + 0.6 T x 112/132 alone.
        let cap = sm_cap(0.4, 132, 20).unwrap() as f64 / PS_PER_SEC as f64;
        let alone = (112.0 / 132.0) / cap;
        assert!(
            (alone - (0.4 + 0.6 * 112.0 / 132.0)).abs() < 1e-9,
            "{alone}"
        );
    }

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
