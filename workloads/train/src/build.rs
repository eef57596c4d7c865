//! The op graph of a training step, and its run on the executor.

use std::collections::HashMap;
use std::sync::Arc;

use memwall_sim::{
    CategoryId, Executor, FlowNet, FlowSpec, OpId, OpKind, OpSpec, Ps, ResourceId, StreamId,
    Timeline, Work, PS_PER_SEC,
};

use super::a2a::A2aBytes;
use super::plan::DpPlan;
use super::plan::{rank_stages, LayerCost, Plan, Role};
use super::TrainError;
use memwall_models::collective::{Algorithm, Collective, PathKind, Prediction, Protocol};
use memwall_pipeline::analytic::{op_cost, OpCosts};
use memwall_pipeline::{BackwardMode, DependencyKind, Op, OpKind as SchedOp, OpRef, Schedule};

/// Streams and memory of one pipeline rank (one representative GPU: with balanced
/// routing every GPU of the rank's EP group behaves alike).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RankOut {
    pub compute: StreamId,
    /// The communication stream: the EP all-to-all and the pipeline P2P (V3 Fig. 4).
    pub comm: StreamId,
    /// The high-priority mHC stream (adjusted overlap) and the data-parallel stream.
    pub hp: StreamId,
    pub dp: StreamId,
    pub stages: Vec<u32>,
    pub param_bytes: u64,
    pub peak_in_flight: u32,
    pub peak_activation_bytes: u64,
}

/// The wall time of one overlapped F&B slot: from the end of the rank's previous compute
/// op to the end of the pair's last compute op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairSlot {
    pub rank: u32,
    pub start: Ps,
    pub end: Ps,
}

/// A simulated step.
#[derive(Clone, Debug)]
pub struct TrainRun {
    pub timeline: Timeline,
    pub ranks: Vec<RankOut>,
    pub step_time: Ps,
    pub pair_slots: Vec<PairSlot>,
    pub events: u64,
    /// How the collective model ran the data-parallel collectives, each distinct way
    /// once, in the order first used.
    pub dp_picks: Vec<DpPick>,
}

/// One way the collective model ([`memwall_models::collective`]) ran a kind of
/// data-parallel collective over a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DpPick {
    pub collective: Collective,
    pub group: u32,
    pub algorithm: Algorithm,
    pub protocol: Protocol,
    pub path: PathKind,
}

impl DpPick {
    fn of(p: &Prediction) -> DpPick {
        DpPick {
            collective: p.collective,
            group: p.ranks,
            algorithm: p.algorithm,
            protocol: p.protocol,
            path: p.path,
        }
    }

    /// `reduce-scatter x256 ring/Simple (network)`.
    pub fn label(&self) -> String {
        format!(
            "{} x{} {}/{} ({})",
            self.collective.label(),
            self.group,
            self.algorithm.label(),
            self.protocol.label(),
            self.path.label()
        )
    }
}

impl TrainRun {
    /// The data-parallel collectives' picks, `; `-separated ([`DpPick::label`]).
    pub fn dp_collectives(&self) -> String {
        let v: Vec<String> = self.dp_picks.iter().map(DpPick::label).collect();
        v.join("; ")
    }

    /// Mean F&B slot over every pair whose slot did not start at the rank's first op.
    pub fn mean_pair_slot(&self) -> Option<Ps> {
        if self.pair_slots.is_empty() {
            return None;
        }
        let s: u128 = self
            .pair_slots
            .iter()
            .map(|p| p.end.saturating_sub(p.start).0 as u128)
            .sum();
        Some(Ps((s / self.pair_slots.len() as u128) as u64))
    }
}

/// Whole-cluster mode ([`crate::cluster::step`]): where a step's communication goes
/// instead of each rank's aggregate NIC and NVLink resources. Ranks are the builder's
/// (a schedule whose ranks may stand for groups of GPUs); latencies stay the aggregate's.
pub trait Wiring {
    /// The network to add the ranks' compute resources to (the wired fabric).
    fn take_net(&mut self) -> FlowNet;
    /// Rank `r`'s all-to-all of `b` per GPU in entry `layer` of its chunk, tokens toward
    /// their experts (`to_experts`) or back.
    fn a2a(
        &mut self,
        r: usize,
        layer: u32,
        b: A2aBytes,
        to_experts: bool,
    ) -> Result<Arc<[FlowSpec]>, TrainError>;
    /// A pipeline message of `bytes` per GPU from rank `src` to rank `dst`.
    fn p2p(&mut self, src: usize, dst: usize, bytes: u64) -> Result<Arc<[FlowSpec]>, TrainError>;
    /// Rank `r`'s share of a data-parallel ring over `group` GPUs: `wire` bytes per GPU,
    /// each flow capped at `cap` bytes/s.
    fn collective(
        &mut self,
        r: usize,
        group: u32,
        wire: u64,
        cap: u64,
    ) -> Result<Arc<[FlowSpec]>, TrainError>;
}

struct Res {
    gpu: ResourceId,
    /// HBM time the high-priority mHC kernels draw on (ps of HBM per second).
    hbm: ResourceId,
    nic_tx: ResourceId,
    nic_rx: ResourceId,
    nvl_tx: ResourceId,
    nvl_rx: ResourceId,
    compute: StreamId,
    comm: StreamId,
    hp: StreamId,
    dp: StreamId,
}

#[derive(Clone, Copy)]
struct Cats {
    head_f: CategoryId,
    head_b: CategoryId,
    head_w: CategoryId,
    reduce_scatter: CategoryId,
    all_gather: CategoryId,
    grad_norm: CategoryId,
    optimizer: CategoryId,
    step_end: CategoryId,
    attn_f: CategoryId,
    attn_b: CategoryId,
    attn_w: CategoryId,
    mlp_f: CategoryId,
    mlp_b: CategoryId,
    mlp_w: CategoryId,
    dispatch: CategoryId,
    combine: CategoryId,
    p2p: CategoryId,
    mhc: CategoryId,
}

struct Builder<'a> {
    ex: Executor,
    plan: &'a Plan,
    res: Vec<Res>,
    cats: Cats,
    last_compute: Vec<Option<OpId>>,
    tag: u32,
    /// Forward and backward outputs of each schedule op emitted so far.
    outs: HashMap<OpRef, (Option<OpId>, Option<OpId>)>,
    /// Overlapped F&B pairs: rank, the rank's compute op before the pair, its last one.
    pairs: Vec<(u32, Option<OpId>, OpId)>,
    /// Ranks that consume each schedule op's forward (false) or backward (true) output
    /// on another rank, and the P2P sends emitted for them: (producer, backward, rank).
    consumers: HashMap<(OpRef, bool), Vec<u32>>,
    sends: HashMap<(OpRef, bool, u32), OpId>,
    /// The last weight-gradient op of each (rank, stage, entry of the stage).
    last_w: HashMap<(usize, u32, usize), OpId>,
    /// The data-parallel collectives' picks so far ([`TrainRun::dp_picks`]).
    picks: Vec<DpPick>,
    /// Whole-cluster mode: the fabric the communication goes over.
    wire: Option<&'a mut dyn Wiring>,
}

/// Forward or backward side of one schedule op.
struct Side<'a> {
    stage: u32,
    layers: &'a [LayerCost],
    input: Vec<OpId>,
}

impl<'a> Builder<'a> {
    /// Per rank: a GPU compute resource, HBM, NIC and NVLink tx/rx, and the compute,
    /// communication (EP all-to-all and pipeline P2P), high-priority mHC and
    /// data-parallel streams; the op categories.
    fn new(plan: &'a Plan, mut wire: Option<&'a mut dyn Wiring>) -> Result<Self, TrainError> {
        let hw = &plan.hw;
        let nr = plan.schedule.ranks.len();
        let mut net = wire.as_mut().map_or_else(FlowNet::new, |w| w.take_net());
        let mut links = Vec::with_capacity(nr);
        for r in 0..nr {
            let mut add = |n: &str, c: u64| net.add_resource(format!("rank{r}/{n}"), c);
            let gpu = add("gpu", PS_PER_SEC)?;
            let hbm = add("hbm", PS_PER_SEC)?;
            let nic_tx = add("nic-tx", hw.nic_bandwidth().max(1))?;
            let nic_rx = add("nic-rx", hw.nic_bandwidth().max(1))?;
            let nvl_tx = add("nvlink-tx", hw.scale_up_bandwidth().max(1))?;
            let nvl_rx = add("nvlink-rx", hw.scale_up_bandwidth().max(1))?;
            links.push((gpu, hbm, nic_tx, nic_rx, nvl_tx, nvl_rx));
        }
        let mut ex = Executor::new(net);
        let mut res = Vec::with_capacity(nr);
        for (r, (gpu, hbm, nic_tx, nic_rx, nvl_tx, nvl_rx)) in links.into_iter().enumerate() {
            res.push(Res {
                gpu,
                hbm,
                nic_tx,
                nic_rx,
                nvl_tx,
                nvl_rx,
                compute: ex.add_stream(format!("rank{r}/compute"), true, true),
                comm: ex.add_stream(format!("rank{r}/ep-comm"), true, false),
                hp: ex.add_stream(format!("rank{r}/mhc-high-priority"), true, false),
                dp: ex.add_stream(format!("rank{r}/dp-comm"), false, false),
            });
        }
        let cats = Cats {
            head_f: ex.category("embed-head-f", OpKind::Compute),
            head_b: ex.category("embed-head-b", OpKind::Compute),
            head_w: ex.category("embed-head-w", OpKind::Compute),
            reduce_scatter: ex.category("dp-reduce-scatter", OpKind::Communication),
            all_gather: ex.category("dp-all-gather", OpKind::Communication),
            grad_norm: ex.category("dp-grad-norm", OpKind::Communication),
            optimizer: ex.category("optimizer", OpKind::Compute),
            step_end: ex.category("step-end", OpKind::Marker),
            attn_f: ex.category("attn-f", OpKind::Compute),
            attn_b: ex.category("attn-b", OpKind::Compute),
            attn_w: ex.category("attn-w", OpKind::Compute),
            mlp_f: ex.category("mlp-f", OpKind::Compute),
            mlp_b: ex.category("mlp-b", OpKind::Compute),
            mlp_w: ex.category("mlp-w", OpKind::Compute),
            dispatch: ex.category("ep-dispatch", OpKind::Communication),
            combine: ex.category("ep-combine", OpKind::Communication),
            p2p: ex.category("pp-p2p", OpKind::Communication),
            mhc: ex.category("mhc-hbm", OpKind::Memory),
        };
        Ok(Builder {
            ex,
            plan,
            res,
            cats,
            last_compute: vec![None; nr],
            tag: 0,
            outs: HashMap::new(),
            pairs: Vec::new(),
            consumers: consumers(&plan.schedule),
            sends: HashMap::new(),
            last_w: HashMap::new(),
            picks: Vec::new(),
            wire,
        })
    }

    /// The inputs of schedule op `i` of rank `r`: forward (activations) and backward
    /// (gradients) producers' outputs, through a P2P transfer when on another rank.
    fn inputs(
        &mut self,
        r: usize,
        i: usize,
        op: &Op,
    ) -> Result<(Vec<OpId>, Vec<OpId>), TrainError> {
        let mut fin = Vec::new();
        let mut bin = Vec::new();
        for d in &op.deps {
            let pr = d.producer.rank as usize;
            let (pf, pb) = self.outs.get(&d.producer).copied().unwrap_or((None, None));
            let (src, list) = match d.kind {
                DependencyKind::Activation => (pf, &mut fin),
                DependencyKind::Gradient => (pb, &mut bin),
                _ => continue,
            };
            let Some(src) = src else {
                return Err(TrainError::MissingProducer { rank: r, op: i });
            };
            if pr != r {
                let grad = d.kind == DependencyKind::Gradient;
                let key = (d.producer, grad, r as u32);
                let send = self.sends.get(&key).copied();
                list.push(send.ok_or(TrainError::MissingProducer { rank: r, op: i })?);
            } else {
                list.push(src);
            }
        }
        Ok((fin, bin))
    }

    /// Schedule op `i` of rank `r`, with its inputs.
    fn emit(&mut self, r: usize, i: usize, op: &Op) -> Result<(), TrainError> {
        self.tag = i as u32;
        let (fin, bin) = self.inputs(r, i, op)?;
        let plan = self.plan;
        let side = |stage: u32, input: Vec<OpId>| Side {
            stage,
            layers: &plan.stages[stage as usize].layers,
            input,
        };
        let before = self.last_compute[r];
        let out = match op.kind {
            SchedOp::Forward(c) => self.chunk(r, Some(side(c.stage, fin)), None, false)?,
            SchedOp::Backward { chunk, mode } => self.chunk(
                r,
                None,
                Some(side(chunk.stage, bin)),
                mode == BackwardMode::Full,
            )?,
            SchedOp::ForwardBackward { forward, backward } => {
                let o = self.chunk(
                    r,
                    Some(side(forward.stage, fin)),
                    Some(side(backward.stage, bin)),
                    true,
                )?;
                if let Some(last) = self.last_compute[r] {
                    self.pairs.push((r as u32, before, last));
                }
                o
            }
            SchedOp::Weight(c) => {
                self.weight(r, c.stage)?;
                (None, None)
            }
        };
        let at = OpRef {
            rank: r as u32,
            index: i as u32,
        };
        self.send_outputs(r, at, out)?;
        self.outs.insert(at, out);
        Ok(())
    }

    /// P2P sends of a schedule op's outputs to the ranks that consume them, issued as
    /// soon as the output exists, on the communication stream after the chunk's
    /// all-to-all (V3 §3.2.1 Fig. 4: DISPATCH(F) DISPATCH(B) COMBINE(F) PP COMBINE(B)).
    fn send_outputs(
        &mut self,
        r: usize,
        at: OpRef,
        out: (Option<OpId>, Option<OpId>),
    ) -> Result<(), TrainError> {
        for (grad, src) in [(false, out.0), (true, out.1)] {
            let Some(src) = src else { continue };
            let dsts = self.consumers.get(&(at, grad)).cloned().unwrap_or_default();
            for dst in dsts {
                let id = self.p2p(r, dst as usize, src)?;
                self.sends.insert((at, grad, dst), id);
            }
        }
        Ok(())
    }

    /// A compute op of `ps` full-GPU picoseconds, its rate capped at `cap` (its
    /// SM-bound kernels, [`crate::plan::sm_cap`]).
    fn compute(
        &mut self,
        r: usize,
        cat: CategoryId,
        (ps, cap): (Ps, Option<u64>),
        deps: &[OpId],
        layer: u32,
    ) -> Result<OpId, TrainError> {
        let spec = OpSpec::new(
            self.res[r].compute,
            cat,
            Work::flow(Ps::ZERO, vec![self.res[r].gpu], ps.0, cap),
        )
        .after(deps.iter().copied())
        .at(self.tag, layer);
        let id = self.ex.add_op(spec)?;
        self.last_compute[r] = Some(id);
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    fn a2a(
        &mut self,
        r: usize,
        cat: CategoryId,
        b: A2aBytes,
        to_experts: bool,
        deps: &[OpId],
        layer: u32,
    ) -> Result<OpId, TrainError> {
        let hw = &self.plan.hw;
        let eff = self.plan.a2a_efficiency;
        let cap = |bw: u64| Some(((bw as f64 * eff).round() as u64).max(1));
        let res = &self.res[r];
        let mut flows = Vec::new();
        if b.scale_out > 0 {
            flows.push(FlowSpec {
                path: vec![res.nic_tx, res.nic_rx],
                bytes: b.scale_out,
                rate_cap: cap(hw.nic_bandwidth()),
            });
        }
        if b.scale_up > 0 {
            flows.push(FlowSpec {
                path: vec![res.nvl_tx, res.nvl_rx],
                bytes: b.scale_up,
                rate_cap: cap(hw.scale_up_bandwidth()),
            });
        }
        let latency = Ps(if b.scale_out > 0 {
            hw.scale_out_latency_ps
        } else {
            hw.scale_up_latency_ps()
        });
        let work = match self.wire.as_mut() {
            Some(w) => Work::SharedTransfer {
                latency,
                flows: w.a2a(r, layer, b, to_experts)?,
            },
            None => Work::Transfer { latency, flows },
        };
        let spec = OpSpec::new(res.comm, cat, work)
            .after(deps.iter().copied())
            .holding(res.gpu, self.plan.comm_hold)
            .at(self.tag, layer);
        Ok(self.ex.add_op(spec)?)
    }

    fn p2p(&mut self, src: usize, dst: usize, dep: OpId) -> Result<OpId, TrainError> {
        // On the communication stream, after the chunk's all-to-all (V3 Fig. 4).
        let stream = self.res[src].comm;
        let latency = Ps(self.plan.hw.scale_out_latency_ps);
        let work = match self.wire.as_mut() {
            Some(w) => Work::SharedTransfer {
                latency,
                flows: w.p2p(src, dst, self.plan.p2p_bytes)?,
            },
            None => Work::flow(
                latency,
                vec![self.res[src].nic_tx, self.res[dst].nic_rx],
                self.plan.p2p_bytes,
                None,
            ),
        };
        let spec = OpSpec::new(stream, self.cats.p2p, work)
            .after([dep])
            .at(self.tag, 0);
        Ok(self.ex.add_op(spec)?)
    }

    fn mhc(
        &mut self,
        r: usize,
        ps: Ps,
        deps: &[OpId],
        layer: u32,
    ) -> Result<Option<OpId>, TrainError> {
        if ps == Ps::ZERO {
            return Ok(None);
        }
        let c = self.cats.mhc;
        Ok(Some(self.compute(r, c, (ps, None), deps, layer)?))
    }

    /// The MLP site's F_post,res kernels: on the high-priority stream with the adjusted
    /// overlap (HBM time beside the compute stream's kernels), else on the compute
    /// stream where the op is emitted.
    fn post(
        &mut self,
        r: usize,
        ps: Ps,
        deps: &[OpId],
        layer: u32,
    ) -> Result<Option<OpId>, TrainError> {
        if self.plan.mhc_overlap {
            self.hp(r, ps, deps, layer)
        } else {
            self.mhc(r, ps, deps, layer)
        }
    }

    /// An mHC kernel on the high-priority stream: HBM time beside the compute stream's
    /// kernels.
    fn hp(
        &mut self,
        r: usize,
        ps: Ps,
        deps: &[OpId],
        layer: u32,
    ) -> Result<Option<OpId>, TrainError> {
        if ps == Ps::ZERO {
            return Ok(None);
        }
        let spec = OpSpec::new(
            self.res[r].hp,
            self.cats.mhc,
            Work::flow(Ps::ZERO, vec![self.res[r].hbm], ps.0, None),
        )
        .after(deps.iter().copied())
        .at(self.tag, layer);
        Ok(Some(self.ex.add_op(spec)?))
    }

    /// A compute op of `ps` after `deps`, or nothing when `ps` is zero (the attention
    /// phases of embedding and head entries): returns the new chain end.
    fn step(
        &mut self,
        r: usize,
        cat: CategoryId,
        work: (Ps, Option<u64>),
        deps: Vec<OpId>,
        layer: u32,
    ) -> Result<Vec<OpId>, TrainError> {
        if work.0 == Ps::ZERO {
            return Ok(deps);
        }
        Ok(vec![self.compute(r, cat, work, &deps, layer)?])
    }

    /// MLP-slot categories (F, B, W) of an entry: the MLP's for a block, else the
    /// embedding/head categories.
    fn mlp_cats(&self, l: &LayerCost) -> [CategoryId; 3] {
        let c = self.cats;
        if l.role == Role::Block {
            [c.mlp_f, c.mlp_b, c.mlp_w]
        } else {
            [c.head_f, c.head_b, c.head_w]
        }
    }

    /// One schedule op: a forward, a backward, or an overlapped pair, with the V3 per-layer
    /// interleave (compute: ATTN(F) MLP(B) MLP(W) MLP(F) ATTN(B) ATTN(W); communication:
    /// COMBINE(B) DISPATCH(F) DISPATCH(B) COMBINE(F)). Returns the forward and backward
    /// outputs.
    fn chunk(
        &mut self,
        r: usize,
        fwd: Option<Side>,
        bwd: Option<Side>,
        with_w: bool,
    ) -> Result<(Option<OpId>, Option<OpId>), TrainError> {
        let lf = fwd.as_ref().map_or(0, |s| s.layers.len());
        let lb = bwd.as_ref().map_or(0, |s| s.layers.len());
        let mut pf: Vec<OpId> = fwd.as_ref().map(|s| s.input.clone()).unwrap_or_default();
        let mut pb: Vec<OpId> = bwd.as_ref().map(|s| s.input.clone()).unwrap_or_default();
        if let Some(b) = &bwd {
            // Whole-stage mHC recompute before the backward (mHC paper §4.3.2).
            let re: Ps = b.layers.iter().map(|l| l.mhc_recompute).sum();
            self.mhc(r, re, &[], b.stage)?;
        }
        for i in 0..lf.max(lb) {
            let f = fwd.as_ref().filter(|_| i < lf).map(|s| s.layers[i]);
            let b = bwd
                .as_ref()
                .filter(|_| i < lb)
                .map(|s| s.layers[lb - 1 - i]);
            // The backward entry's place in its stage (its gradient bucket).
            let w = bwd.as_ref().map(|s| (s.stage, lb - 1 - i));
            (pf, pb) = self.layer_pair(r, i as u32, f, b, pf, pb, w.filter(|_| with_w))?;
        }
        let last = |v: Vec<OpId>| v.last().copied();
        Ok((fwd.as_ref().and(last(pf)), bwd.as_ref().and(last(pb))))
    }

    /// One layer of a chunk: forward entry `f` and backward entry `b` interleaved, the
    /// weight gradients of `b` too when `w_stage` names its stage. Returns the forward
    /// and backward chain ends.
    #[allow(clippy::too_many_arguments)]
    fn layer_pair(
        &mut self,
        r: usize,
        li: u32,
        f: Option<LayerCost>,
        b: Option<LayerCost>,
        mut pf: Vec<OpId>,
        mut pb: Vec<OpId>,
        w_stage: Option<(u32, usize)>,
    ) -> Result<(Vec<OpId>, Vec<OpId>), TrainError> {
        let c = self.cats;
        if let Some(b) = b {
            pb = self.combine_b(r, li, b, pb)?;
        }
        if let Some(f) = f {
            pf = self.mhc(r, f.mhc_f, &pf, li)?.map_or(pf, |m| vec![m]);
            pf = self.step(r, c.attn_f, (f.attn_f, f.caps[0]), pf, li)?;
            if f.moe {
                pf = vec![self.a2a(r, c.dispatch, f.a2a_fp8, true, &pf, li)?];
            }
        }
        if let Some(b) = b {
            let [_, mb, mw] = self.mlp_cats(&b);
            pb = self.step(r, mb, (b.mlp_b, b.caps[4]), pb, li)?;
            if b.moe {
                pb = vec![self.a2a(r, c.dispatch, b.a2a_bf16, false, &pb, li)?];
            }
            if let Some(s) = w_stage {
                self.weight_op(r, s, mw, (b.mlp_w, b.caps[5]), li)?;
            }
        }
        if let Some(f) = f {
            let [mf, _, _] = self.mlp_cats(&f);
            pf = self.step(r, mf, (f.mlp_f, f.caps[3]), pf, li)?;
        }
        if let Some(b) = b {
            pb = self.mhc(r, b.mhc_b, &pb, li)?.map_or(pb, |m| vec![m]);
            pb = self.step(r, c.attn_b, (b.attn_b, b.caps[1]), pb, li)?;
        }
        if let Some(f) = f.filter(|f| f.moe) {
            pf = vec![self.a2a(r, c.combine, f.a2a_bf16, false, &pf, li)?];
        }
        if let Some(f) = f {
            // The stage output (and the P2P send) waits for it: behind ATTN(B) on the
            // compute stream, or on the high-priority stream (mHC paper §4.3.3).
            pf = self.post(r, f.mhc_post_f, &pf, li)?.map_or(pf, |m| vec![m]);
        }
        if let (Some(b), Some(s)) = (b, w_stage) {
            self.weight_op(r, s, c.attn_w, (b.attn_w, b.caps[2]), li)?;
        }
        Ok((pf, pb))
    }

    /// The start of backward entry `b`: the backward of its MLP site's F_post,res, which
    /// gives the MLP output's gradient, then the combine that takes that gradient to the
    /// experts (mHC paper Fig. 4: F^M_post,res(B) right before COMBINE(B)). Without the
    /// adjusted overlap the kernel runs on the compute stream as soon as its input is
    /// there, ahead of the unit's ATTN(F).
    fn combine_b(
        &mut self,
        r: usize,
        li: u32,
        b: LayerCost,
        pb: Vec<OpId>,
    ) -> Result<Vec<OpId>, TrainError> {
        let pb = self.post(r, b.mhc_post_b, &pb, li)?.map_or(pb, |m| vec![m]);
        if !b.moe {
            return Ok(pb);
        }
        let c = self.cats.combine;
        Ok(vec![self.a2a(r, c, b.a2a_fp8, true, &pb, li)?])
    }

    /// A weight-gradient compute op of entry `stage.1` of stage `stage.0` (none when
    /// `ps` is zero).
    fn weight_op(
        &mut self,
        r: usize,
        stage: (u32, usize),
        cat: CategoryId,
        work: (Ps, Option<u64>),
        li: u32,
    ) -> Result<(), TrainError> {
        if work.0 > Ps::ZERO {
            let id = self.compute(r, cat, work, &[], li)?;
            self.last_w.insert((r, stage.0, stage.1), id);
        }
        Ok(())
    }

    /// A deferred weight-gradient op: every layer's MLP(W) and ATTN(W).
    fn weight(&mut self, r: usize, stage: u32) -> Result<(), TrainError> {
        let layers = self.plan.stages[stage as usize].layers.clone();
        let aw = self.cats.attn_w;
        for (i, l) in layers.iter().enumerate().rev() {
            let [_, _, mw] = self.mlp_cats(l);
            let li = (layers.len() - 1 - i) as u32;
            self.weight_op(r, (stage, i), mw, (l.mlp_w, l.caps[5]), li)?;
            self.weight_op(r, (stage, i), aw, (l.attn_w, l.caps[2]), li)?;
        }
        Ok(())
    }

    /// The data-parallel end of the step, after every rank's schedule: per entry of a
    /// held stage (a gradient bucket) a reduce-scatter once every rank holding the stage
    /// has that entry's last weight gradient (the mirror copies sum too), overlapping the
    /// rest of the backward; a global all-reduce of the gradient norm and the expert
    /// loads (V3 §2.1.2, §4.2); AdamW on the GPU's
    /// shard; the parameter all-gathers; a step-end marker on the compute stream that
    /// waits for them.
    fn dp_end(&mut self) -> Result<(), TrainError> {
        let held = rank_stages(&self.plan.schedule);
        let mut reduced: Vec<OpId> = Vec::new();
        for (r, stages) in held.iter().enumerate() {
            self.tag = self.plan.schedule.ranks[r].len() as u32;
            for &s in stages {
                let entries = self.plan.stages[s as usize].entry_params.clone();
                for (e, &(p, ex)) in entries.iter().enumerate() {
                    let deps: Vec<OpId> = (0..held.len())
                        .filter_map(|q| self.last_w.get(&(q, s, e)).copied())
                        .collect();
                    let c = (self.cats.reduce_scatter, Collective::ReduceScatter);
                    reduced.extend(self.bucket(r, c, (p, ex), self.plan.dp.grad_bytes, &deps)?);
                }
            }
        }
        for (r, stages) in held.iter().enumerate() {
            self.tag = self.plan.schedule.ranks[r].len() as u32;
            self.update(r, stages, &reduced)?;
        }
        Ok(())
    }

    /// Gradient norm and expert loads, AdamW and parameter all-gather of rank `r` after every bucket's
    /// reduce-scatter (`reduced`), and the step-end marker.
    fn update(&mut self, r: usize, stages: &[u32], reduced: &[OpId]) -> Result<(), TrainError> {
        let dp = self.plan.dp;
        self.pick(&dp.norm);
        let lat = Ps(dp.norm.time_ps);
        let spec = OpSpec::new(self.res[r].dp, self.cats.grad_norm, Work::Delay(lat))
            .after(reduced.iter().copied())
            .at(self.tag, 0);
        let norm = self.ex.add_op(spec)?;
        let shard: u64 = stages
            .iter()
            .map(|&s| {
                let st = &self.plan.stages[s as usize];
                dp.shard(st.params.saturating_sub(st.expert_params), st.expert_params)
            })
            .sum();
        let ps = dp.optimizer_ps(shard, &self.plan.hw);
        let opt = self.compute(r, self.cats.optimizer, (ps, None), &[norm], 0)?;
        let mut gathered = Vec::new();
        for &s in stages {
            let st = &self.plan.stages[s as usize];
            let whole = (st.params, st.expert_params);
            let c = (self.cats.all_gather, Collective::AllGather);
            gathered.extend(self.bucket(r, c, whole, dp.param_bytes, &[opt])?);
        }
        // One picosecond, so that the attribution window (which ends at the step) holds
        // it and blames the wait before it on the all-gathers.
        let end = OpSpec::new(self.res[r].compute, self.cats.step_end, Work::Delay(Ps(1)))
            .after(gathered)
            .at(self.tag, 0);
        self.ex.add_op(end)?;
        Ok(())
    }

    /// Records how a data-parallel collective ran (each distinct way once).
    fn pick(&mut self, p: &Prediction) {
        let k = DpPick::of(p);
        if !self.picks.contains(&k) {
            self.picks.push(k);
        }
    }

    /// The collectives of one bucket of `(params, of which routed experts)` at `bytes`
    /// per parameter: the dense part over the dense group, the experts over theirs.
    fn bucket(
        &mut self,
        r: usize,
        kind: (CategoryId, Collective),
        (params, experts): (u64, u64),
        bytes: u64,
        deps: &[OpId],
    ) -> Result<Vec<OpId>, TrainError> {
        let dp = self.plan.dp;
        let dense = params.saturating_sub(experts);
        let mut out = Vec::new();
        for (p, g, per_node) in [
            (dense, dp.dense_group, dp.dense_per_node),
            (experts, dp.expert_group, dp.expert_per_node),
        ] {
            let group = (g, per_node);
            out.extend(self.collective(r, kind, p.saturating_mul(bytes), group, deps)?);
        }
        Ok(out)
    }

    /// A reduce-scatter or all-gather `c` of `bytes` over `group` GPUs placed `per_node`
    /// to a node, on rank `r`'s NIC: the algorithm, protocol and latency term the
    /// collective model picks ([`DpPlan::predict`]); its bandwidth term as (g-1)/g of the
    /// bytes in flows capped at the rate that takes them the predicted bandwidth time
    /// (the protocol's bus bandwidth), sharing the NIC with the pipeline's other traffic.
    /// None for a group of one.
    fn collective(
        &mut self,
        r: usize,
        (cat, c): (CategoryId, Collective),
        bytes: u64,
        (group, per_node): (u32, u32),
        deps: &[OpId],
    ) -> Result<Option<OpId>, TrainError> {
        if group <= 1 || bytes == 0 {
            return Ok(None);
        }
        let p = DpPlan::predict(&self.plan.hw, c, bytes, group, per_node)?;
        self.pick(&p);
        let g = group as u128;
        let wire = (bytes as u128 * (g - 1)).div_ceil(g) as u64;
        let latency = Ps(p.latency_ps);
        let rate = (wire as u128 * PS_PER_SEC as u128) / p.bandwidth_ps.max(1) as u128;
        let cap = rate.clamp(1, u64::MAX as u128) as u64;
        let work = match self.wire.as_mut() {
            Some(w) => Work::SharedTransfer {
                latency,
                flows: w.collective(r, group, wire, cap)?,
            },
            None => Work::flow(
                latency,
                vec![self.res[r].nic_tx, self.res[r].nic_rx],
                wire,
                Some(cap),
            ),
        };
        let spec = OpSpec::new(self.res[r].dp, cat, work)
            .after(deps.iter().copied())
            .at(self.tag, 0);
        Ok(Some(self.ex.add_op(spec)?))
    }
}

/// Ranks that consume each schedule op's forward (false) or backward (true) output on
/// another rank.
fn consumers(s: &Schedule) -> HashMap<(OpRef, bool), Vec<u32>> {
    let mut m: HashMap<(OpRef, bool), Vec<u32>> = HashMap::new();
    for (r, ops) in s.ranks.iter().enumerate() {
        for op in ops {
            for d in &op.deps {
                let grad = match d.kind {
                    DependencyKind::Activation => false,
                    DependencyKind::Gradient => true,
                    _ => continue,
                };
                if d.producer.rank as usize != r {
                    let v = m.entry((d.producer, grad)).or_default();
                    if !v.contains(&(r as u32)) {
                        v.push(r as u32);
                    }
                }
            }
        }
    }
    m
}

/// Walks a schedule in an order where every cross-rank producer comes first, calling
/// `emit(rank, index, op)`.
fn walk<F>(s: &Schedule, mut emit: F) -> Result<(), TrainError>
where
    F: FnMut(usize, usize, &Op) -> Result<(), TrainError>,
{
    let n = s.ranks.len();
    let mut next = vec![0usize; n];
    loop {
        let mut progressed = false;
        let mut done = true;
        for r in 0..n {
            while next[r] < s.ranks[r].len() {
                let op = &s.ranks[r][next[r]];
                let ready = op
                    .deps
                    .iter()
                    .all(|d| (d.producer.index as usize) < next[d.producer.rank as usize]);
                if !ready {
                    break;
                }
                emit(r, next[r], op)?;
                next[r] += 1;
                progressed = true;
            }
            if next[r] < s.ranks[r].len() {
                done = false;
            }
        }
        if done {
            return Ok(());
        }
        if !progressed {
            return Err(TrainError::Deadlock);
        }
    }
}

/// Builds the op graph of one training step of `plan` and runs it.
pub fn run_step(plan: &Plan) -> Result<TrainRun, TrainError> {
    run_step_with(plan, None)
}

/// [`run_step`] with the communication on `wire`'s fabric (whole-cluster mode).
pub fn run_step_wired<'a>(
    plan: &'a Plan,
    wire: &'a mut dyn Wiring,
) -> Result<TrainRun, TrainError> {
    run_step_with(plan, Some(wire))
}

fn run_step_with<'a>(
    plan: &'a Plan,
    wire: Option<&'a mut dyn Wiring>,
) -> Result<TrainRun, TrainError> {
    let mut b = Builder::new(plan, wire)?;
    walk(&plan.schedule, |r, i, op| b.emit(r, i, op))?;
    b.dp_end()?;
    let Builder {
        mut ex,
        res,
        pairs,
        picks,
        ..
    } = b;
    ex.run()?;
    let events = ex.events_processed();
    let tl = ex.into_timeline();
    if tl.records.iter().any(|r| !r.finished()) {
        return Err(TrainError::NeverRan);
    }
    let step_time = tl.makespan();
    let pair_slots = pairs
        .iter()
        .map(|&(rank, before, last)| PairSlot {
            rank,
            start: before.and_then(|id| tl.get(id)).map_or(Ps::ZERO, |r| r.end),
            end: tl.get(last).map_or(Ps::ZERO, |r| r.end),
        })
        .collect();
    Ok(TrainRun {
        ranks: rank_outs(plan, &res),
        timeline: tl,
        step_time,
        pair_slots,
        events,
        dp_picks: picks,
    })
}

/// Streams, stages, parameters and peak memory of each rank.
fn rank_outs(plan: &Plan, res: &[Res]) -> Vec<RankOut> {
    let mem = super::memory::memory(plan);
    res.iter()
        .zip(mem)
        .map(|(x, m)| RankOut {
            compute: x.compute,
            comm: x.comm,
            hp: x.hp,
            dp: x.dp,
            param_bytes: m.params,
            peak_in_flight: m.chunks,
            peak_activation_bytes: m.activations(),
            stages: m.stages,
        })
        .collect()
}

/// The schedule alone on the executor: each op one compute op of fixed cost, free
/// communication (a P2P dependency is a plain edge).
#[derive(Clone, Debug)]
pub struct AbstractRun {
    pub timeline: Timeline,
    pub makespan: Ps,
    /// Compute-busy time of each rank.
    pub busy: Vec<Ps>,
}

impl AbstractRun {
    /// makespan - busy, per rank.
    pub fn idle(&self) -> Vec<Ps> {
        self.busy
            .iter()
            .map(|&b| self.makespan.saturating_sub(b))
            .collect()
    }
}

/// Runs `schedule` with fixed per-kind costs (picoseconds) and free communication.
pub fn simulate_abstract(schedule: &Schedule, costs: &OpCosts) -> Result<AbstractRun, TrainError> {
    if costs.weight > costs.backward_full {
        return Err(TrainError::WeightExceedsBackward {
            weight: costs.weight,
            backward: costs.backward_full,
        });
    }
    let mut ex = Executor::new(FlowNet::new());
    let streams: Vec<StreamId> = (0..schedule.ranks.len())
        .map(|r| ex.add_stream(format!("rank{r}/compute"), true, true))
        .collect();
    let cat = ex.category("chunk", OpKind::Compute);
    let mut ids: HashMap<OpRef, OpId> = HashMap::new();
    let mut busy = vec![Ps::ZERO; schedule.ranks.len()];
    walk(schedule, |r, i, op| {
        let deps: Vec<OpId> = op
            .deps
            .iter()
            .filter_map(|d| ids.get(&d.producer).copied())
            .collect();
        let c = Ps(op_cost(&op.kind, costs));
        busy[r] += c;
        let id = ex.add_op(
            OpSpec::new(streams[r], cat, Work::Delay(c))
                .after(deps)
                .at(i as u32, 0),
        )?;
        ids.insert(
            OpRef {
                rank: r as u32,
                index: i as u32,
            },
            id,
        );
        Ok(())
    })?;
    ex.run()?;
    let tl = ex.into_timeline();
    Ok(AbstractRun {
        makespan: tl.makespan(),
        timeline: tl,
        busy,
    })
}
