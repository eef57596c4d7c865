//! Per-layer compute time from the op cost model (`memwall_models::cost`, docs/op-cost.md)
//! on the GPU profile: each layer is its kernels, each priced on its own shape: the
//! attention projections and the FFN as GEMMs over the step's tokens (MoE: the routed
//! experts as one grouped GEMM over the experts this GPU touches, the shared experts and
//! router as a GEMM), the attention core as one fused kernel over the step's sequences,
//! and the residual, norm and activation kernels as memory-bound kernels, none faster
//! than the GPU's kernel floor; plus the CPU launch overhead. The Engram module's own
//! compute (projections, gating, short conv) and the output head likewise.
//!
//! Under tensor parallelism (`tp` GPUs per replica, Megatron-style as vLLM shards a
//! model) each GPU holds `1/tp` of every weight matrix, attention head and KV head, so
//! its GEMMs have `1/tp` of the output columns and its attention `1/tp` of the work; each
//! layer then pays two all-reduces of the step's hidden states (after the attention
//! output projection and after the FFN down projection), the step one more after the
//! embedding and an all-gather of the logits, each priced by `memwall_models::collective`
//! on the system's links (NVLink, or PCIe peer to peer for GPUs without it).

use memwall_models::collective::{predict, Collective};
use memwall_models::cost::{Gemm, GroupedGemm, OpTime, Roofline};
use memwall_models::perf::{Dtype as CostDtype, HwRates};
use memwall_models::{GpuSpec, SystemSpec};
use memwall_sim::Ps;

use memwall_llm::engram::EngramDims;
use memwall_llm::{expected_distinct_experts, LayerKind, Pass, StepShape};
use memwall_llm::{Attention, Dtype, LayerFlops, ModelConfig};

use super::batcher::SeqWork;
use super::error::ScenarioError;
use super::fast_hash::FastMap;

/// A group of layers with identical cost (same FFN kind and attention compression).
#[derive(Debug, Clone, Copy)]
struct LayerClass {
    rep: u32,
    routed: u64,
}

/// GEMM kernels a layer launches besides its memory-bound ones: the attention
/// projections, the FFN, the fused attention core.
const LAYER_GEMMS_AND_ATTENTION: u64 = 3;

#[derive(Debug, Clone)]
pub struct CostModel {
    pub model: ModelConfig,
    class_of: Vec<usize>,
    classes: Vec<LayerClass>,
    rates: HwRates,
    /// GEMM dtypes of the dense weights and of the routed experts.
    dtype: CostDtype,
    expert_dtype: CostDtype,
    launch: Ps,
    pub kernels_per_layer: u64,
    pub cuda_graph_decode: bool,
    ep: u64,
    expert_bytes: u64,
    lm_head_bytes: u64,
    /// Tensor-parallel degree, and the system whose links its collectives cross.
    tp: u32,
    system: Option<SystemSpec>,
    /// The routed experts run where the all-to-all sends their tokens
    /// ([`CostModel::expert_time`], `crate::moe`), not in the layer times.
    experts_routed: bool,
    /// The engine's kernels as measured on this GPU, when its profile has them.
    measured: Option<MeasuredKernels>,
    /// Parts already priced (`Memo`).
    memo: Memo,
}

/// Entries a memo holds at most: past it, it starts again empty, so memory stays flat
/// however long the run.
const MEMO_CAP: usize = 1 << 16;

/// Exact memos of the cost model's pure parts, which steps repeat: a step's decodes are
/// the same few (context, new tokens) shapes over and over, and its GEMMs the same few
/// row counts. A memo hit returns what the computation would: the key is every input.
#[derive(Debug, Clone, Default)]
struct Memo {
    /// One sequence's share of a layer class's `StepWork`, by (class, ctx, new, decode).
    seqs: FastMap<(usize, u32, u32, bool), SeqTerms>,
    /// A layer class's projections and FFN, picoseconds, by (class, GEMM rows, the node's
    /// tokens where the FFN depends on them, else 0).
    gemms: FastMap<(usize, u64, u64), u128>,
    /// A layer's memory-bound kernels (the mixing roofline), by (FLOPs, bytes).
    memory: FastMap<(u128, u128), u128>,
    /// The Engram module's time by (tokens, kernels, prefill), for these dimensions.
    engram: Option<(EngramDims, EngramMemo)>,
    /// The token rows of the last grouped GEMM (a buffer, reused).
    expert_rows: Vec<u64>,
}

/// Engram module times by (tokens, kernels, prefill).
type EngramMemo = FastMap<(u64, u64, bool), Ps>;

/// One sequence's terms of a layer's `StepWork` (before the TP split).
#[derive(Debug, Clone, Copy)]
struct SeqTerms {
    attention_flops: u128,
    mhc_flops: u128,
    kv_bytes: u128,
    residual_bytes: u128,
}

/// Keeps `v` as `memo[key]`, emptying the memo first when it is full.
fn remember<K: std::hash::Hash + Eq, V>(memo: &mut FastMap<K, V>, key: K, v: V) {
    if memo.len() >= MEMO_CAP {
        memo.clear();
    }
    memo.insert(key, v);
}

/// A kernel's measured rate against its size (rows of a GEMM, tokens of a prefill chunk):
/// at `x` it processed `rate` units (weight bytes, FLOPs) per second. A kernel takes at
/// least its units at the rate of its size, the time per unit interpolated linearly
/// between measured sizes and flat below the first; past the last it is flat too, or,
/// for weight-read rates (`grows_past_last`), grows with the size (compute bound).
#[derive(Debug, Clone, PartialEq)]
pub struct RateTable {
    /// (size, picoseconds per unit), sizes ascending.
    points: Vec<(u64, f64)>,
    grows_past_last: bool,
}

impl RateTable {
    /// From (size, units per second) points: sizes strictly ascending from 1, rates above 0.
    pub fn new(points: Vec<(u64, u64)>, grows_past_last: bool) -> Result<Self, String> {
        if points.windows(2).any(|w| w[0].0 >= w[1].0) || points.first().is_some_and(|p| p.0 == 0) {
            return Err("sizes must ascend strictly from 1 or more".into());
        }
        if points.is_empty() || points.iter().any(|p| p.1 == 0) {
            return Err("every rate must be above 0".into());
        }
        Ok(RateTable {
            points: points
                .iter()
                .map(|&(r, per_s)| (r, 1e12 / per_s as f64))
                .collect(),
            grows_past_last,
        })
    }

    /// The least time, picoseconds, of a kernel of `units` units at `size`.
    pub fn floor_ps(&self, size: u64, units: u128) -> u128 {
        let p = &self.points;
        let (first, last) = (p[0], p[p.len() - 1]);
        let per_unit = if size <= first.0 {
            first.1
        } else if size >= last.0 {
            match self.grows_past_last {
                true => last.1 * size as f64 / last.0 as f64,
                false => last.1,
            }
        } else {
            let i = p.partition_point(|q| q.0 <= size);
            let (a, b) = (p[i - 1], p[i]);
            let f = (size - a.0) as f64 / (b.0 - a.0) as f64;
            a.1 + f * (b.1 - a.1)
        };
        (per_unit * units as f64) as u128
    }
}

/// An engine's kernels as measured on one GPU (docs/engines.md, "Kernels as measured").
/// A kernel left out (`None`) keeps the op cost model's price.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasuredKernels {
    /// The dense projections (and the output head): weight bytes per second by GEMM rows.
    pub weights: Option<RateTable>,
    /// The prefill attention kernel: FLOPs per second by the step's prefill tokens.
    pub prefill_attention: Option<RateTable>,
    /// The decode attention kernel of a decode-only step: KV bytes per second by the KV
    /// bytes it reads per layer.
    pub decode_attention: Option<RateTable>,
    /// In a step that carries a prefill, the decode sequences' attention runs in the
    /// variable-length prefill kernel, which reads each sequence's KV once per query
    /// head: KV bytes x (query heads / KV heads) over this rate, bytes per second.
    pub mixed_attention_rate: Option<u64>,
    /// The TP all-reduces of two of these GPUs, as the engine runs them, when measured.
    pub tp2_all_reduce: Option<TpAllReduce>,
    /// NCCL's all-gather over two of these GPUs when measured: bytes per second by the
    /// bytes each GPU contributes.
    pub tp2_all_gather: Option<RateTable>,
}

/// An all-reduce over two GPUs as vLLM dispatches it (docs/engines.md, "TP all-reduces
/// as vLLM runs them"): below `custom_below` bytes its custom one-stage kernel, in which
/// each GPU reads its peer's whole buffer over P2P between two flag barriers; from there
/// NCCL, at the times measured on these GPUs.
#[derive(Debug, Clone, PartialEq)]
pub struct TpAllReduce {
    pub custom_below: u64,
    /// Bytes per second a GPU reads from its peer.
    pub peer_read_rate: u64,
    /// The one-stage kernel's fixed cost: its barriers and the first remote read.
    pub custom_sync: Ps,
    /// NCCL's all-reduce: bytes per second by bytes.
    pub nccl: RateTable,
}

impl TpAllReduce {
    /// Picoseconds to all-reduce `bytes` over the two GPUs.
    pub fn time_ps(&self, bytes: u64) -> u128 {
        if bytes < self.custom_below {
            let read = bytes as f64 * 1e12 / self.peer_read_rate as f64;
            self.custom_sync.0 as u128 + read as u128
        } else {
            self.nccl.floor_ps(bytes, bytes as u128)
        }
    }
}

/// How a step's kernels are launched (the engine's CUDA-graph regime for its shape).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    /// The built-in behaviour: decode steps under CUDA graphs when `cuda_graph_decode`,
    /// otherwise `kernels_per_layer` launches per layer.
    Default,
    /// A full graph padded to `padded` tokens: one graph launch per step.
    FullGraph { padded: u64 },
    /// Piecewise graphs padded to `padded` tokens: one graph launch per layer plus its
    /// eager kernels (attention, KV write).
    Piecewise { padded: u64, eager_per_layer: u64 },
    /// Every kernel launched from the host.
    Eager,
}

/// One layer's work in one step, summed over the step's sequences. The GEMMs are priced
/// from `tokens` and the weights; only the FLOPs of the other kernels are kept.
#[derive(Debug, Clone, Copy, Default)]
struct StepWork {
    tokens: u64,
    /// Attention core and indexer.
    attention_flops: u128,
    mhc_flops: u128,
    kv_bytes: u128,
    /// The decode sequences' share of `kv_bytes`.
    decode_kv_bytes: u128,
    /// Tokens of the step's prefills (or chunks of them).
    prefill_tokens: u64,
    residual_bytes: u128,
}

/// The (attention core + indexer, mHC) FLOPs of a pass.
fn kernel_flops(f: &LayerFlops) -> (u128, u128) {
    (
        f.attention_core_flops as u128 + f.indexer_flops as u128,
        f.mhc_flops as u128,
    )
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
        let dtype = cost_dtype(model.weight_dtype);
        let expert_dtype = cost_dtype(model.expert_weight_dtype.unwrap_or(model.weight_dtype));
        let rates = what_if_rates(HwRates::from_gpu(gpu), efficiency);
        if rates.flops(dtype).is_none() {
            return Err(ScenarioError::NoComputeRate {
                gpu: gpu.name.clone(),
                dtype: format!("{:?}", model.weight_dtype),
            });
        }
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
                    let (_, routed) = model.layer_weight_bytes(l)?;
                    classes.push(LayerClass { rep: l, routed });
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
            rates,
            dtype,
            expert_dtype,
            launch: Ps(gpu.kernel_launch_ps),
            kernels_per_layer,
            cuda_graph_decode,
            ep: ep.max(1),
            expert_bytes,
            lm_head_bytes,
            tp: 1,
            system: None,
            experts_routed: false,
            measured: None,
            memo: Memo::default(),
            model,
        })
    }

    /// Splits the model over `tp` GPUs of `system` (collectives priced on its links).
    pub fn with_tensor_parallel(mut self, tp: u32, system: &SystemSpec) -> Self {
        self.tp = tp.max(1);
        if self.tp > 1 {
            self.system = Some(system.clone());
        }
        self
    }

    /// Dense projections, the output head and the attention core at least as slow as the
    /// engine's kernels measured on this GPU (`MeasuredKernels`).
    pub fn with_measured_kernels(mut self, measured: Option<MeasuredKernels>) -> Self {
        self.measured = measured;
        self
    }

    /// A GEMM's time on the profile's rates, or the measured floor of `weight_bytes` read
    /// over `rows` rows when the engine has one for this GPU.
    fn measured_floor(&self, t: u128, rows: u64, weight_bytes: u64) -> u128 {
        match &self.measured {
            Some(MeasuredKernels {
                weights: Some(w), ..
            }) => t.max(w.floor_ps(rows, weight_bytes as u128)),
            _ => t,
        }
    }

    /// Routed experts priced per GPU from the rows the all-to-all brings
    /// ([`CostModel::expert_time`]): the layer times keep attention, shared experts and
    /// router; expert weights split over the EP group only (not the TP group as well).
    pub fn with_routed_experts(mut self) -> Self {
        self.experts_routed = true;
        self
    }

    /// One collective of `bytes` over the TP group (an all-gather's `bytes` are its
    /// output), picoseconds: a two-GPU all-reduce or all-gather as the engine runs it on
    /// this GPU when its profile has that ([`TpAllReduce`], `tp2_all_gather`), else
    /// priced on the system's links.
    fn collective(&self, c: Collective, bytes: u64) -> Result<u128, ScenarioError> {
        let Some(sys) = self.system.as_ref() else {
            return Ok(0);
        };
        let m = self.measured.as_ref().filter(|_| self.tp == 2);
        if let (Collective::AllReduce, Some(ar)) = (c, m.and_then(|m| m.tp2_all_reduce.as_ref())) {
            return Ok(ar.time_ps(bytes.max(1)));
        }
        if let (Collective::AllGather, Some(ag)) = (c, m.and_then(|m| m.tp2_all_gather.as_ref())) {
            let each = (bytes / 2).max(1);
            return Ok(ag.floor_ps(each, each as u128));
        }
        predict(sys, c, bytes.max(1), self.tp, None, None)
            .map(|p| p.time_ps as u128)
            .map_err(|e| ScenarioError::Cost {
                gpu: self.rates.name.clone(),
                message: e.to_string(),
            })
    }

    /// Bytes of the hidden states of `tokens` tokens (what a TP all-reduce carries).
    fn hidden_bytes(&self, tokens: u64) -> u64 {
        self.model
            .activation_dtype
            .bytes_for(tokens.saturating_mul(self.model.hidden_size))
    }

    pub fn num_layers(&self) -> u32 {
        self.model.num_layers
    }

    /// Weight bytes per GPU resident in HBM (experts split over the EP group, everything
    /// over the TP group).
    pub fn weight_bytes_per_gpu(&self) -> Result<u64, ScenarioError> {
        let (mut t, mut experts) = (self.lm_head_bytes as u128 * 2, 0u128);
        for l in 0..self.model.num_layers {
            let (dense, routed) = self.model.layer_weight_bytes(l)?;
            t += dense as u128;
            experts += (routed as u128 * self.expert_bytes as u128) / self.ep as u128;
        }
        let t = if self.experts_routed {
            t / self.tp as u128 + experts
        } else {
            (t + experts) / self.tp as u128
        };
        Ok(t.min(u64::MAX as u128) as u64)
    }

    /// KV bytes per cached token over all layers, on one GPU of the TP group.
    pub fn kv_bytes_per_token(&self) -> Result<u64, ScenarioError> {
        let mut t = 0u64;
        for l in 0..self.model.num_layers {
            t += self.model.kv_cache_bytes_per_token(l)?;
        }
        Ok((t / self.tp as u64).max(1))
    }

    /// Time of each layer class for one step of `work` on this GPU; `node_tokens` is the
    /// whole node's token count this step (which experts are touched).
    pub fn class_times(
        &mut self,
        work: &[SeqWork],
        prefill: bool,
        node_tokens: u64,
        launch: Launch,
        out: &mut Vec<Ps>,
    ) -> Result<(), ScenarioError> {
        out.clear();
        let l = self.launch.0;
        let per_layer_launch = match launch {
            Launch::Default if !prefill && self.cuda_graph_decode => Ps::ZERO,
            Launch::Default | Launch::Eager => Ps(l * self.kernels_per_layer),
            Launch::FullGraph { .. } => Ps::ZERO,
            Launch::Piecewise {
                eager_per_layer, ..
            } => Ps(l * eager_per_layer + self.rates.kernels.graph_launch_ps),
        };
        let padded = match launch {
            Launch::FullGraph { padded } | Launch::Piecewise { padded, .. } => Some(padded),
            Launch::Default | Launch::Eager => None,
        };
        for ci in 0..self.classes.len() {
            let step = self.step_work(ci, work)?;
            let gemm_tokens = padded.unwrap_or(step.tokens).max(step.tokens);
            let comm =
                2 * self.collective(Collective::AllReduce, self.hidden_bytes(gemm_tokens))?;
            let t = self.layer_time(ci, &step, gemm_tokens, node_tokens)?;
            out.push(t + Ps(comm.min(u64::MAX as u128) as u64) + per_layer_launch);
        }
        Ok(())
    }

    /// One layer's FLOPs and bytes for the step's sequences (class `ci`).
    fn step_work(&mut self, ci: usize, work: &[SeqWork]) -> Result<StepWork, ScenarioError> {
        let mut s = StepWork::default();
        for w in work {
            let key = (ci, w.ctx, w.new, w.decode);
            let t = match self.memo.seqs.get(&key) {
                Some(&t) => t,
                None => {
                    let t = seq_terms(&self.model, self.classes[ci].rep, w)?;
                    remember(&mut self.memo.seqs, key, t);
                    t
                }
            };
            s.attention_flops += t.attention_flops;
            s.mhc_flops += t.mhc_flops;
            s.tokens += w.new as u64;
            s.kv_bytes += t.kv_bytes;
            if w.decode {
                s.decode_kv_bytes += t.kv_bytes;
            } else {
                s.prefill_tokens += w.new as u64;
            }
            s.residual_bytes += t.residual_bytes;
        }
        let tp = self.tp as u128;
        s.attention_flops /= tp;
        s.kv_bytes /= tp;
        s.decode_kv_bytes /= tp;
        Ok(s)
    }

    fn op(
        &self,
        t: Result<OpTime, memwall_models::cost::CostError>,
    ) -> Result<u128, ScenarioError> {
        t.map(|t| t.ps as u128).map_err(|e| ScenarioError::Cost {
            gpu: self.rates.name.clone(),
            message: e.to_string(),
        })
    }

    /// A GEMM of the step's `tokens` rows by a `hidden x (params / hidden)` weight (its
    /// `1/tp` share of the columns).
    fn weight_gemm(&self, tokens: u64, params: u128) -> Result<u128, ScenarioError> {
        let k = self.model.hidden_size.max(1);
        let n = (params / k as u128 / self.tp as u128)
            .max(1)
            .min(u64::MAX as u128) as u64;
        let t = self.op(Gemm {
            m: tokens,
            n,
            k,
            batch: 1,
            dtype: self.dtype,
        }
        .time(&self.rates))?;
        let bytes = self.model.weight_dtype.bytes_for(k.saturating_mul(n));
        Ok(self.measured_floor(t, tokens, bytes))
    }

    /// The FFN: dense, or shared experts and router as a GEMM plus the routed experts
    /// this GPU touches as one grouped GEMM (weights split over the EP group).
    fn ffn_time(
        &self,
        c: &LayerClass,
        tokens: u64,
        node_tokens: u64,
    ) -> Result<u128, ScenarioError> {
        let (_, active) = self.model.mlp_params(c.rep)?;
        let moe = self.model.mlp.moe.as_ref().filter(|_| c.routed > 0);
        let Some(m) = moe else {
            return self.weight_gemm(tokens, active as u128);
        };
        let h = self.model.hidden_size;
        let expert = 3 * h as u128 * m.expert_ffn_size as u128;
        let dense = (active as u128).saturating_sub(expert * m.experts_per_token as u128);
        if self.experts_routed {
            return self.weight_gemm(tokens, dense);
        }
        let touched =
            expected_distinct_experts(m.num_routed_experts, m.experts_per_token, node_tokens);
        let local = touched.div_ceil(self.ep).max(1);
        let routed = GroupedGemm::routed(
            tokens.saturating_mul(m.experts_per_token),
            local,
            1.0,
            3 * m.expert_ffn_size,
            h,
            self.expert_dtype,
        );
        Ok(self.weight_gemm(tokens, dense)? + self.op(routed.time(&self.rates))?)
    }

    /// One layer of a step: its GEMMs, its fused attention core, and its memory-bound
    /// kernels (residual, norms, activation, mHC mixing), each at least the floor.
    fn layer_time(
        &mut self,
        ci: usize,
        s: &StepWork,
        gemm_tokens: u64,
        node_tokens: u64,
    ) -> Result<Ps, ScenarioError> {
        if s.tokens == 0 {
            return Ok(Ps::ZERO);
        }
        let c = self.classes[ci];
        // The FFN reads the node's tokens only for routed experts priced in the layer.
        let node = match self.experts_routed || c.routed == 0 {
            true => 0,
            false => node_tokens,
        };
        let key = (ci, gemm_tokens, node);
        let gemms = match self.memo.gemms.get(&key) {
            Some(&t) => t,
            None => {
                let proj = self.weight_gemm(gemm_tokens, self.model.attention_params() as u128)?;
                let t = proj + self.ffn_time(&c, gemm_tokens, node_tokens)?;
                remember(&mut self.memo.gemms, key, t);
                t
            }
        };
        let core = self.attention_core(s)?;
        let key = (s.mhc_flops, s.residual_bytes);
        let memory = match self.memo.memory.get(&key) {
            Some(&t) => t,
            None => {
                let t = self.memory_kernels(s)?;
                remember(&mut self.memo.memory, key, t);
                t
            }
        };
        let t = gemms + core + memory;
        Ok(Ps(t.min(u64::MAX as u128) as u64))
    }

    /// A layer's memory-bound kernels (residual, norms, activation, mHC mixing): their
    /// roofline, at least the floor of each.
    fn memory_kernels(&self, s: &StepWork) -> Result<u128, ScenarioError> {
        let mixing = Roofline {
            flops: s.mhc_flops,
            bytes: s.residual_bytes,
            dtype: CostDtype::Bf16,
        };
        let memory_kernels = self
            .kernels_per_layer
            .saturating_sub(LAYER_GEMMS_AND_ATTENTION)
            .max(1);
        let floors = memory_kernels as u128 * self.rates.kernels.floor_ps as u128;
        Ok(self.op(mixing.time(&self.rates))?.max(floors))
    }

    /// A layer's fused attention core: a roofline over the step's attention FLOPs and KV
    /// bytes. On a GPU whose kernels are measured (GQA models; MLA and compressed
    /// attention keep the roofline), at least: in a decode-only step, its KV bytes at the
    /// measured decode rate for that many bytes; otherwise the prefill's FLOPs at the
    /// measured prefill rate for the step's prefill tokens plus the decode sequences' KV
    /// read once per query head at the measured mixed-step rate.
    fn attention_core(&self, s: &StepWork) -> Result<u128, ScenarioError> {
        let roofline = |flops: u128, bytes: u128| {
            self.op(Roofline {
                flops,
                bytes,
                dtype: CostDtype::Bf16,
            }
            .time(&self.rates))
        };
        let core = roofline(s.attention_flops, s.kv_bytes)?;
        let (Some(m), Attention::Gqa(g)) = (&self.measured, &self.model.attention) else {
            return Ok(core);
        };
        if s.prefill_tokens == 0 {
            let kv = s.decode_kv_bytes.min(u64::MAX as u128) as u64;
            let measured = m.decode_attention.as_ref();
            return Ok(measured.map_or(core, |d| core.max(d.floor_ps(kv, s.decode_kv_bytes))));
        }
        let Some(p) = &m.prefill_attention else {
            return Ok(core);
        };
        let prefill = roofline(s.attention_flops, s.kv_bytes - s.decode_kv_bytes)?
            .max(p.floor_ps(s.prefill_tokens, s.attention_flops));
        let heads_per_kv = (g.num_heads / g.num_kv_heads.max(1)).max(1) as u128;
        let decode = match m.mixed_attention_rate {
            Some(r) => s.decode_kv_bytes * heads_per_kv * 1_000_000_000_000 / r as u128,
            None => roofline(0, s.decode_kv_bytes)?,
        };
        Ok(core.max(prefill + decode))
    }

    /// Layers in `range` with routed experts.
    pub fn moe_layers(&self, range: std::ops::Range<u32>) -> u32 {
        range
            .filter(|&l| self.classes[self.class_of[l as usize]].routed > 0)
            .count() as u32
    }

    /// One GPU's routed experts in one MoE layer: a grouped GEMM over its experts, expert
    /// `e` multiplying `rows[e]` token rows (rows left by the all-to-all's routing).
    pub fn expert_time(&mut self, rows: &[u64]) -> Result<Ps, ScenarioError> {
        let Some(m) = self.model.mlp.moe.as_ref() else {
            return Ok(Ps::ZERO);
        };
        if rows.iter().all(|&r| r == 0) {
            return Ok(Ps::ZERO);
        }
        let mut tokens = std::mem::take(&mut self.memo.expert_rows);
        tokens.clear();
        tokens.extend_from_slice(rows);
        let g = GroupedGemm {
            tokens,
            n: 3 * m.expert_ffn_size,
            k: self.model.hidden_size,
            dtype: self.expert_dtype,
        };
        let t = self.op(g.time(&self.rates));
        self.memo.expert_rows = g.tokens;
        Ok(Ps(t?.min(u64::MAX as u128) as u64))
    }

    /// Time of layers `range` given the class times.
    pub fn range_time(&self, class_times: &[Ps], range: std::ops::Range<u32>) -> Ps {
        let mut t = Ps::ZERO;
        for l in range {
            t += class_times[self.class_of[l as usize]];
        }
        t
    }

    /// The output head for `sampled` tokens (its `1/tp` of the vocabulary, then the
    /// logits all-gathered), the embedding's all-reduce of the step's `tokens`, and the
    /// step's launches outside the layers.
    pub fn head_time(
        &self,
        sampled: u64,
        tokens: u64,
        prefill: bool,
        launch: Launch,
    ) -> Result<Ps, ScenarioError> {
        let (n, k) = (self.model.vocab_size, self.model.hidden_size);
        let gemm = Gemm {
            m: sampled.max(1),
            n: (n / self.tp as u64).max(1),
            k,
            batch: 1,
            dtype: CostDtype::Bf16,
        };
        let t = self.op(gemm.time(&self.rates))?;
        let head_bytes = self.lm_head_bytes / self.tp as u64;
        let t = self.measured_floor(t, sampled.max(1), head_bytes);
        let logits = self.model.activation_dtype.bytes_for(sampled.max(1) * n);
        let comm = self.collective(Collective::AllGather, logits)?
            + self.collective(Collective::AllReduce, self.hidden_bytes(tokens))?;
        let launches = match launch {
            Launch::Default if !prefill && self.cuda_graph_decode => self.launch.0,
            Launch::FullGraph { .. } => self.rates.kernels.graph_launch_ps,
            _ => 2 * self.launch.0,
        };
        Ok(Ps((t + comm).min(u64::MAX as u128) as u64) + Ps(launches))
    }

    /// The Engram module of one layer for `tokens` tokens: projections, gating and conv
    /// as one kernel of their totals (reading the gathered rows and the projection
    /// weights from HBM). Under tensor parallelism each rank does `1/tp` of it on the
    /// rows of its own hash columns (`crate::sim`'s `tp_engram`), and the partial
    /// products are summed by an all-reduce of the step's hidden states.
    pub fn engram_time(
        &mut self,
        dims: &EngramDims,
        tokens: u64,
        kernels: u64,
        prefill: bool,
    ) -> Result<Ps, ScenarioError> {
        if self.memo.engram.as_ref().is_none_or(|(d, _)| d != dims) {
            self.memo.engram = Some((*dims, FastMap::default()));
        }
        let key = (tokens, kernels, prefill);
        if let Some((_, m)) = &self.memo.engram {
            if let Some(&t) = m.get(&key) {
                return Ok(t);
            }
        }
        let t = self.engram_module(dims, tokens, kernels, prefill)?;
        if let Some((_, m)) = &mut self.memo.engram {
            remember(m, key, t);
        }
        Ok(t)
    }

    /// [`CostModel::engram_time`], computed.
    fn engram_module(
        &self,
        dims: &EngramDims,
        tokens: u64,
        kernels: u64,
        prefill: bool,
    ) -> Result<Ps, ScenarioError> {
        let flops = dims.forward_flops_per_token()?.total_flops() as u128 * tokens as u128;
        let bytes = dims.gathered_bytes_per_token() as u128 * tokens as u128
            + self.model.weight_dtype.bytes_for(dims.projection_params()) as u128
            + 2 * self
                .model
                .activation_dtype
                .bytes_for(dims.hidden * dims.hc_mult.max(1)) as u128
                * tokens as u128;
        let tp = self.tp as u128;
        let t = self.op(Roofline {
            flops: flops / tp,
            bytes: bytes / tp,
            dtype: CostDtype::Bf16,
        }
        .time(&self.rates))?;
        let partial = self
            .hidden_bytes(tokens)
            .saturating_mul(dims.hc_mult.max(1));
        let t = t + self.collective(Collective::AllReduce, partial)?;
        let launch = if !prefill && self.cuda_graph_decode {
            0
        } else {
            kernels
        };
        Ok(Ps(t.min(u64::MAX as u128) as u64) + Ps(self.launch.0 * launch))
    }
}

/// One sequence's terms of layer `rep`'s step work: a prefill chunk's attention FLOPs
/// are those up to its end less those up to its start.
fn seq_terms(model: &ModelConfig, rep: u32, w: &SeqWork) -> Result<SeqTerms, ScenarioError> {
    let (attention_flops, mhc_flops) = if !w.decode {
        let pass = |tokens: u32| Pass::Prefill {
            tokens: tokens as u64,
        };
        let end = kernel_flops(&model.layer_forward_flops(rep, pass(w.ctx + w.new))?);
        let start = match w.ctx {
            0 => (0, 0),
            ctx => kernel_flops(&model.layer_forward_flops(rep, pass(ctx))?),
        };
        (end.0 - start.0, end.1 - start.1)
    } else {
        let pass = Pass::Decode {
            context_len: w.ctx as u64,
        };
        kernel_flops(&model.layer_forward_flops(rep, pass)?)
    };
    let b = model.layer_hbm_bytes(
        rep,
        &StepShape {
            sequences: 1,
            new_tokens_per_sequence: w.new as u64,
            context_len: w.ctx as u64,
        },
    )?;
    Ok(SeqTerms {
        attention_flops,
        mhc_flops,
        kv_bytes: (b.kv_read_bytes + b.kv_write_bytes) as u128,
        residual_bytes: b.residual_bytes as u128,
    })
}

/// The cost model's dtype for a weight type (FP16 runs at the BF16 rate).
fn cost_dtype(d: Dtype) -> CostDtype {
    match d {
        Dtype::Fp32 => CostDtype::Fp32,
        Dtype::Bf16 | Dtype::Fp16 => CostDtype::Bf16,
        Dtype::Fp8 => CostDtype::Fp8,
        Dtype::Fp4 => CostDtype::Fp4,
    }
}

/// The profile's rates, scaled by a what-if `efficiency` (`[engine] compute_efficiency`,
/// 1.0 = as profiled): FLOP rates and HBM bandwidth only.
fn what_if_rates(mut r: HwRates, efficiency: f64) -> HwRates {
    if efficiency == 1.0 {
        return r;
    }
    let scale = |x: u64| ((x as f64) * efficiency).max(1.0) as u64;
    for v in [
        &mut r.bf16,
        &mut r.fp8,
        &mut r.fp4,
        &mut r.tf32,
        &mut r.fp32,
    ] {
        *v = v.map(scale);
    }
    r.hbm = scale(r.hbm);
    r
}

#[cfg(test)]
mod tests {
    use super::RateTable;

    fn table(grows: bool) -> RateTable {
        // 1 byte per ps at 1 row, half that at 100 rows.
        RateTable::new(vec![(1, 1_000_000_000_000), (100, 500_000_000_000)], grows).unwrap()
    }

    #[test]
    fn rates_interpolate_in_time_per_unit() {
        let t = table(true);
        assert_eq!(t.floor_ps(1, 1000), 1000);
        assert_eq!(t.floor_ps(100, 1000), 2000);
        // halfway in rows: halfway in time per unit.
        let mid = t.floor_ps(50, 99_000);
        assert!((mid as i128 - 148_000).abs() <= 1, "{mid}");
        // below the first size: the first rate.
        assert_eq!(table(false).floor_ps(1, 7), 7);
    }

    #[test]
    fn past_the_last_size_weight_reads_grow_and_flop_rates_stay() {
        assert_eq!(table(true).floor_ps(200, 1000), 4000);
        assert_eq!(table(false).floor_ps(200, 1000), 2000);
    }

    #[test]
    fn bad_tables_are_refused() {
        assert!(RateTable::new(vec![], true).is_err());
        assert!(RateTable::new(vec![(0, 1)], true).is_err());
        assert!(RateTable::new(vec![(2, 1), (2, 1)], true).is_err());
        assert!(RateTable::new(vec![(1, 0)], true).is_err());
    }
}
