//! The op graph of a training step, and its run on the executor.

use std::collections::HashMap;

use memwall_sim::{
    CategoryId, Executor, FlowNet, FlowSpec, OpId, OpKind, OpSpec, Ps, ResourceId, StreamId,
    Timeline, Work, PS_PER_SEC,
};

use super::a2a::A2aBytes;
use super::plan::{LayerCost, Plan};
use super::TrainError;
use memwall_pipeline::analytic::{op_cost, OpCosts};
use memwall_pipeline::{BackwardMode, DependencyKind, Op, OpKind as SchedOp, OpRef, Schedule};

/// Streams and memory of one pipeline rank (one representative GPU: with balanced
/// routing every GPU of the rank's EP group behaves alike).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RankOut {
    pub compute: StreamId,
    pub comm: StreamId,
    pub pp: StreamId,
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
}

impl TrainRun {
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

struct Res {
    gpu: ResourceId,
    nic_tx: ResourceId,
    nic_rx: ResourceId,
    nvl_tx: ResourceId,
    nvl_rx: ResourceId,
    compute: StreamId,
    comm: StreamId,
    pp: StreamId,
}

#[derive(Clone, Copy)]
struct Cats {
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
}

/// Forward or backward side of one schedule op.
struct Side<'a> {
    stage: u32,
    layers: &'a [LayerCost],
    input: Vec<OpId>,
}

impl<'a> Builder<'a> {
    /// Per rank: a GPU compute resource, NIC and NVLink tx/rx, and the compute, EP
    /// communication and pipeline P2P streams; the op categories.
    fn new(plan: &'a Plan) -> Result<Self, TrainError> {
        let hw = &plan.hw;
        let nr = plan.schedule.ranks.len();
        let mut net = FlowNet::new();
        let mut links = Vec::with_capacity(nr);
        for r in 0..nr {
            let mut add = |n: &str, c: u64| net.add_resource(format!("rank{r}/{n}"), c);
            let gpu = add("gpu", PS_PER_SEC)?;
            let nic_tx = add("nic-tx", hw.nic_bandwidth().max(1))?;
            let nic_rx = add("nic-rx", hw.nic_bandwidth().max(1))?;
            let nvl_tx = add("nvlink-tx", hw.scale_up_bandwidth().max(1))?;
            let nvl_rx = add("nvlink-rx", hw.scale_up_bandwidth().max(1))?;
            links.push((gpu, nic_tx, nic_rx, nvl_tx, nvl_rx));
        }
        let mut ex = Executor::new(net);
        let mut res = Vec::with_capacity(nr);
        for (r, (gpu, nic_tx, nic_rx, nvl_tx, nvl_rx)) in links.into_iter().enumerate() {
            res.push(Res {
                gpu,
                nic_tx,
                nic_rx,
                nvl_tx,
                nvl_rx,
                compute: ex.add_stream(format!("rank{r}/compute"), true, true),
                comm: ex.add_stream(format!("rank{r}/ep-comm"), true, false),
                pp: ex.add_stream(format!("rank{r}/pp-p2p"), false, false),
            });
        }
        let cats = Cats {
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
                list.push(self.p2p(pr, r, src)?);
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
        self.outs.insert(at, out);
        Ok(())
    }

    fn compute(
        &mut self,
        r: usize,
        cat: CategoryId,
        ps: Ps,
        deps: &[OpId],
        layer: u32,
    ) -> Result<OpId, TrainError> {
        let spec = OpSpec::new(
            self.res[r].compute,
            cat,
            Work::Transfer {
                latency: Ps::ZERO,
                flows: vec![FlowSpec {
                    path: vec![self.res[r].gpu],
                    bytes: ps.0,
                    rate_cap: None,
                }],
            },
        )
        .after(deps.iter().copied())
        .at(self.tag, layer);
        let id = self.ex.add_op(spec)?;
        self.last_compute[r] = Some(id);
        Ok(id)
    }

    fn a2a(
        &mut self,
        r: usize,
        cat: CategoryId,
        b: A2aBytes,
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
        let spec = OpSpec::new(res.comm, cat, Work::Transfer { latency, flows })
            .after(deps.iter().copied())
            .holding(res.gpu, self.plan.comm_hold)
            .at(self.tag, layer);
        Ok(self.ex.add_op(spec)?)
    }

    fn p2p(&mut self, src: usize, dst: usize, dep: OpId) -> Result<OpId, TrainError> {
        let spec = OpSpec::new(
            self.res[src].pp,
            self.cats.p2p,
            Work::Transfer {
                latency: Ps(self.plan.hw.scale_out_latency_ps),
                flows: vec![FlowSpec {
                    path: vec![self.res[src].nic_tx, self.res[dst].nic_rx],
                    bytes: self.plan.p2p_bytes,
                    rate_cap: None,
                }],
            },
        )
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
        Ok(Some(self.compute(r, c, ps, deps, layer)?))
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
        let c = self.cats;
        for i in 0..lf.max(lb) {
            let f = fwd.as_ref().filter(|_| i < lf).map(|s| s.layers[i]);
            let b = bwd
                .as_ref()
                .filter(|_| i < lb)
                .map(|s| s.layers[lb - 1 - i]);
            let li = i as u32;
            if let Some(b) = b.filter(|b| b.moe) {
                pb = vec![self.a2a(r, c.combine, b.a2a_fp8, &pb, li)?];
            }
            if let Some(f) = f {
                if let Some(m) = self.mhc(r, f.mhc_f, &pf, li)? {
                    pf = vec![m];
                }
                pf = vec![self.compute(r, c.attn_f, f.attn_f, &pf, li)?];
                if f.moe {
                    pf = vec![self.a2a(r, c.dispatch, f.a2a_fp8, &pf, li)?];
                }
            }
            if let Some(b) = b {
                pb = vec![self.compute(r, c.mlp_b, b.mlp_b, &pb, li)?];
                if b.moe {
                    pb = vec![self.a2a(r, c.dispatch, b.a2a_bf16, &pb, li)?];
                }
                if with_w {
                    self.compute(r, c.mlp_w, b.mlp_w, &[], li)?;
                }
            }
            if let Some(f) = f {
                pf = vec![self.compute(r, c.mlp_f, f.mlp_f, &pf, li)?];
            }
            if let Some(b) = b {
                if let Some(m) = self.mhc(r, b.mhc_b, &pb, li)? {
                    pb = vec![m];
                }
                pb = vec![self.compute(r, c.attn_b, b.attn_b, &pb, li)?];
            }
            if let Some(f) = f.filter(|f| f.moe) {
                pf = vec![self.a2a(r, c.combine, f.a2a_bf16, &pf, li)?];
            }
            if let Some(b) = b {
                if with_w {
                    self.compute(r, c.attn_w, b.attn_w, &[], li)?;
                }
            }
        }
        let last = |v: Vec<OpId>| v.last().copied();
        Ok((fwd.as_ref().and(last(pf)), bwd.as_ref().and(last(pb))))
    }

    /// A deferred weight-gradient op: every layer's MLP(W) and ATTN(W).
    fn weight(&mut self, r: usize, stage: u32) -> Result<(), TrainError> {
        let layers = self.plan.stages[stage as usize].layers.clone();
        let (mw, aw) = (self.cats.mlp_w, self.cats.attn_w);
        for (i, l) in layers.iter().rev().enumerate() {
            self.compute(r, mw, l.mlp_w, &[], i as u32)?;
            self.compute(r, aw, l.attn_w, &[], i as u32)?;
        }
        Ok(())
    }
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

/// Stages each rank holds.
fn rank_stages(s: &Schedule) -> Vec<Vec<u32>> {
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

/// Builds the op graph of one training step of `plan` and runs it.
pub fn run_step(plan: &Plan) -> Result<TrainRun, TrainError> {
    let mut b = Builder::new(plan)?;
    walk(&plan.schedule, |r, i, op| b.emit(r, i, op))?;
    let Builder {
        mut ex, res, pairs, ..
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
    })
}

/// Streams, stages, parameters and peak memory of each rank.
fn rank_outs(plan: &Plan, res: &[Res]) -> Vec<RankOut> {
    let s = &plan.schedule;
    let peaks = s.peak_in_flight_activations();
    let stages = rank_stages(s);
    res.iter()
        .enumerate()
        .map(|(r, x)| {
            let st = &stages[r];
            let stage = |k: &u32| &plan.stages[*k as usize];
            let params: u64 = st.iter().map(|k| stage(k).params).sum();
            let per_chunk = st
                .iter()
                .map(|k| stage(k).activation_bytes_per_chunk)
                .max()
                .unwrap_or(0);
            let transient = st
                .iter()
                .map(|k| stage(k).recompute_transient_bytes)
                .max()
                .unwrap_or(0);
            RankOut {
                compute: x.compute,
                comm: x.comm,
                pp: x.pp,
                stages: st.clone(),
                param_bytes: params.saturating_mul(plan.param_bytes),
                peak_in_flight: peaks[r],
                peak_activation_bytes: per_chunk
                    .saturating_mul(peaks[r] as u64)
                    .saturating_add(transient),
            }
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
