//! The expert-parallel step (`[moe]`, `crate::moe`): data-parallel attention, experts
//! split over every GPU, and each MoE layer's dispatch and combine all-to-all as flows.
//!
//! Each replica (a data-parallel attention group of `tensor_parallel` GPUs) runs its own
//! batch through attention, the shared experts and the router; then every GPU sends each
//! token once to each GPU holding one of its experts (the dispatch), every GPU multiplies
//! the rows it received by its own experts, and the results go back (the combine). Each
//! phase is one transfer of one flow per (sender, receiver) pair over the node's peer
//! path (NVLink, or PCIe peer to peer through the host bridge) and ends with its last
//! flow, so the slowest pair (a hot expert's GPU, a crowded uplink) sets the pace, and
//! every replica waits for it: a replica with no request of its own still computes its
//! experts, as SGLang's DP attention runs an idle batch. Over an NVLink switch, which is
//! non-blocking, the pairs are summed per port instead: one flow per GPU on its transmit
//! port (all it sends) and one on its receive port (all it receives), so the busiest
//! port sets the phase's time, with 2 x GPUs flows instead of GPUs squared (the step
//! loop's cost; `cargo bench -p memwall-serve --bench serving_speed`). When nothing else
//! crosses the ports (no Engram tier reads over NVLink: only the all-to-all does, one
//! phase at a time), each port flow runs alone, so the phase is a `Work::Dedicated`: the
//! same times to the picosecond, in closed form rather than through the flow solver.
//!
//! The step's layers are cut at its Engram layers (the fetches are issued and awaited
//! there, as without `[moe]`); the MoE layers of one cut run as one attention op per
//! replica, one dispatch, one expert op per replica and one combine, each the cut's MoE
//! layers' worth (bytes, latency, expert time). With one routing draw per step and every
//! layer of a cut costing the same, this is the per-layer sequence's time: the sum over
//! layers of (slowest attention + dispatch + slowest experts + combine); it keeps a
//! step's op count independent of the model's depth.

use memwall_llm::ModelConfig;
use memwall_models::node::NodeModel;
use memwall_models::tiers::TierConfig;
use memwall_sim::{
    CategoryId, Executor, FlowSpec, OpId, OpKind, OpSpec, Ps, ResourceId, StreamId, Work,
};

use super::{launch_of, GpuStep, ServeSim};
use crate::ep_cluster::{Paths, WholeCluster};
use crate::error::{invalid, ScenarioError};
use crate::moe::{Routed, Router};
use crate::scenario::Scenario;

/// The expert-parallel side of a run.
pub(super) struct EpRun {
    router: Router,
    routed: Routed,
    tp: usize,
    gpus: usize,
    per_gpu: usize,
    /// The peer path of each ordered pair (`src * gpus + dst`) and its rate cap.
    paths: Paths,
    /// Over a cluster, the combine's path of each dispatch pair (`src * gpus + dst`, from
    /// `dst` back to `src`); empty on one node, where the combine takes `paths`.
    back: Paths,
    /// Over NVLink: each GPU's transmit and receive port, and the link latency.
    ports: Option<(Vec<(ResourceId, ResourceId)>, Ps)>,
    /// Whether the all-to-all is alone on those ports (no Engram tier reads over NVLink),
    /// so that a phase's port flows run in closed form (`Work::Dedicated`).
    dedicated: bool,
    /// Bytes per token of the dispatch and of the combine.
    token_bytes: (u64, u64),
    dispatch: CategoryId,
    combine: CategoryId,
    stream: StreamId,
    /// Each replica's layer-class times this step.
    class_t: Vec<Vec<Ps>>,
    /// Each GPU's routed experts for one MoE layer this step.
    expert_t: Vec<Ps>,
    /// Each GPU's dispatch tokens this step: (sent to other GPUs, received from them).
    loads: Vec<(u64, u64)>,
    tokens: Vec<u64>,
}

impl EpRun {
    /// Checks the deployment (experts split evenly over every GPU the replicas use) and
    /// wires every pair's peer path.
    pub(super) fn new(
        s: &Scenario,
        (node, whole): (&NodeModel, Option<&WholeCluster>),
        model: &ModelConfig,
        (replicas, tp): (usize, usize),
        ex: &mut Executor,
    ) -> Result<Option<EpRun>, ScenarioError> {
        let Some(spec) = &s.moe else {
            return Ok(None);
        };
        let Some(moe) = model.mlp.moe.as_ref() else {
            return Err(invalid(
                &s.origin,
                format!(
                    "[moe]: model `{}` has no routed experts\nhint: drop [moe], or serve a \
                     MoE model",
                    model.name
                ),
            ));
        };
        let gpus = replicas * tp;
        let copies = spec.redundant(s, moe.num_routed_experts)? as usize;
        let experts = moe.num_routed_experts as usize + copies;
        check_ep(s, gpus, experts)?;
        let routing = spec.routing(s)?;
        let token_bytes = spec.token_bytes(s, model.hidden_size)?;
        if let Some(w) = whole {
            w.check_tp(s, tp)?;
        }
        let (paths, back) = match whole {
            Some(w) => w.paths(s, gpus)?,
            None => (peer_paths(s, node, gpus)?, Vec::new()),
        };
        // Over a cluster the pairs' paths cross NICs and leaves: one flow per pair.
        let ports = node
            .spec
            .nvlink
            .as_ref()
            .filter(|_| whole.is_none())
            .map(|nv| {
                let p = node.gpus[..gpus]
                    .iter()
                    .filter_map(|g| g.nvlink_tx.zip(g.nvlink_rx));
                (p.collect(), Ps(nv.link.latency_ps))
            });
        let k = moe.experts_per_token as usize;
        let nvlink_fetch = s
            .engram
            .as_ref()
            .is_some_and(|e| matches!(e.tier, TierConfig::GpuSharded(_)));
        Ok(Some(EpRun {
            router: Router::with_copies(experts - copies, copies, k, gpus, routing, s.seed),
            routed: Routed::default(),
            tp,
            gpus,
            per_gpu: experts / gpus,
            paths,
            back,
            ports,
            dedicated: !nvlink_fetch,
            token_bytes,
            dispatch: ex.category("ep-dispatch", OpKind::Communication),
            combine: ex.category("ep-combine", OpKind::Communication),
            stream: ex.add_stream("ep.all-to-all", false, false),
            class_t: vec![Vec::new(); replicas],
            expert_t: vec![Ps::ZERO; gpus],
            loads: vec![(0, 0); gpus],
            tokens: vec![0; gpus],
        }))
    }
}

/// `[engine] expert_parallel` must be every GPU the replicas use and divide the experts.
fn check_ep(s: &Scenario, gpus: usize, experts: usize) -> Result<(), ScenarioError> {
    let ep = s.engine.expert_parallel as usize;
    let err = |message: String, hint: String| ScenarioError::Field {
        origin: s.origin.clone(),
        line: s.line_of_table_key("engine", "expert_parallel"),
        field: "engine.expert_parallel".into(),
        value: ep.to_string(),
        message,
        hint,
    };
    if !experts.is_multiple_of(ep) {
        return Err(err(
            format!("does not divide the model's {experts} routed experts"),
            "pick a divisor of the expert count (each GPU holds the same number)".into(),
        ));
    }
    if ep != gpus {
        return Err(err(
            format!(
                "with [moe] the experts are split over every GPU the replicas use \
                 (replicas x tensor_parallel = {gpus})"
            ),
            format!("set expert_parallel = {gpus}, or change replicas"),
        ));
    }
    Ok(())
}

impl ServeSim<'_> {
    /// Every replica's ops for an expert-parallel step: heads, the cuts between Engram
    /// layers (attention, dispatch, experts, combine), the Engram layers, the output
    /// heads. `ends` gets each replica's last op (none for a replica without requests).
    pub(super) fn ep_step_ops(
        &mut self,
        node_tokens: u64,
        lasts: &mut Vec<OpId>,
        ends: &mut Vec<Option<OpId>>,
    ) -> Result<(), ScenarioError> {
        let n = self.gpus.len();
        let mut gs = Vec::with_capacity(n);
        for gi in 0..n {
            gs.push(self.ep_head(gi, node_tokens, lasts)?);
        }
        self.ep_route()?;
        let nl = self.cost.num_layers();
        let engram: Vec<u32> = self
            .engram
            .iter()
            .flat_map(|e| &e.layers)
            .map(|l| l.1)
            .collect();
        let mut at = 0;
        for (k, &b) in engram.iter().chain([nl].iter()).enumerate() {
            self.ep_cut(&mut gs, at..b)?;
            at = b;
            if k < engram.len() {
                for (gi, g) in gs.iter_mut().enumerate() {
                    if g.tokens > 0 {
                        g.layer_at = b;
                        self.engram_layer(gi, k, g)?;
                    }
                }
            }
        }
        for (gi, g) in gs.iter().enumerate() {
            ends.push(self.ep_tail(gi, g)?);
        }
        Ok(())
    }

    /// A replica's CPU op and hashing, and its layer-class times (none when idle).
    fn ep_head(
        &mut self,
        gi: usize,
        node_tokens: u64,
        lasts: &mut Vec<OpId>,
    ) -> Result<GpuStep, ScenarioError> {
        for f in self.fetches[gi].iter_mut() {
            *f = None;
        }
        let ep = self
            .ep
            .as_mut()
            .expect("expert-parallel step without [moe]");
        let p = &self.plans[gi];
        ep.class_t[gi].clear();
        if p.work.is_empty() {
            return Ok(GpuStep {
                tokens: 0,
                last: None,
                hash: None,
                layer_at: 0,
                prev_reads: Vec::new(),
            });
        }
        let launch = launch_of(self.engine.as_ref(), p);
        self.cost
            .class_times(&p.work, p.prefill, node_tokens, launch, &mut ep.class_t[gi])?;
        self.step_head(gi, lasts)
    }

    /// This step's routing and each GPU's expert time for one MoE layer.
    fn ep_route(&mut self) -> Result<(), ScenarioError> {
        let ep = self.ep.as_mut().expect("[moe]");
        for (i, p) in self.plans.iter().enumerate() {
            let t = p.tokens();
            let tp = ep.tp as u64;
            for s in 0..ep.tp {
                ep.tokens[i * ep.tp + s] = t / tp + u64::from((s as u64) < t % tp);
            }
        }
        ep.router.route(&ep.tokens, &mut ep.routed);
        if ep.ports.is_some() {
            port_loads(&ep.routed.pairs, &mut ep.loads);
        }
        for g in 0..ep.gpus {
            let rows = &ep.routed.rows[g * ep.per_gpu..(g + 1) * ep.per_gpu];
            ep.expert_t[g] = self.cost.expert_time(rows)?;
        }
        Ok(())
    }

    /// Layers `range` of every replica: attention (and the rest of each layer but the
    /// routed experts), then, when the range holds MoE layers, dispatch, experts, combine.
    fn ep_cut(
        &mut self,
        gs: &mut [GpuStep],
        range: std::ops::Range<u32>,
    ) -> Result<(), ScenarioError> {
        let su = self.step as u32;
        let m = self.cost.moe_layers(range.clone());
        for (gi, g) in gs.iter_mut().enumerate().filter(|(_, g)| g.tokens > 0) {
            let ep = self.ep.as_ref().expect("[moe]");
            let t = self.cost.range_time(&ep.class_t[gi], range.clone());
            let o = OpSpec::new(self.gpus[gi].compute, self.cats.compute, Work::Delay(t));
            g.last = Some(self.add(o.after(g.last.or(self.prev)).at(su, range.start))?);
        }
        if m == 0 {
            return Ok(());
        }
        let senders: Vec<OpId> = gs.iter().filter_map(|g| g.last).chain(self.prev).collect();
        let dispatch = self.ep_transfer(true, m, senders, range.start)?;
        let mut experts = Vec::with_capacity(gs.len());
        for (gi, g) in gs.iter().enumerate() {
            let ep = self.ep.as_ref().expect("[moe]");
            let busiest = ep.expert_t[gi * ep.tp..(gi + 1) * ep.tp]
                .iter()
                .max()
                .copied()
                .unwrap_or(Ps::ZERO);
            let o = OpSpec::new(
                self.gpus[gi].compute,
                self.cats.compute,
                Work::Delay(Ps(busiest.0 * m as u64)),
            );
            experts.push(self.add(o.after(g.last).after([dispatch]).at(su, range.start))?);
        }
        let combine = self.ep_transfer(false, m, experts, range.start)?;
        for g in gs.iter_mut() {
            g.last = Some(combine);
        }
        Ok(())
    }

    /// One all-to-all phase of `m` MoE layers: a flow per (sender, receiver) pair with
    /// tokens to move (the combine sends the dispatch's pairs back), after `after`.
    fn ep_transfer(
        &mut self,
        dispatch: bool,
        m: u32,
        after: Vec<OpId>,
        layer: u32,
    ) -> Result<OpId, ScenarioError> {
        let ep = self.ep.as_ref().expect("[moe]");
        let m64 = m as u64;
        let bytes = if dispatch {
            ep.token_bytes.0
        } else {
            ep.token_bytes.1
        };
        let work = match &ep.ports {
            Some((ports, latency)) => {
                let flows = port_flows(&ep.loads, dispatch, ports, bytes * m64);
                let latency = Ps(latency.0 * m64);
                match (flows.is_empty(), ep.dedicated) {
                    (true, _) => Work::Marker,
                    (false, true) => Work::Dedicated { latency, flows },
                    (false, false) => Work::Links { latency, flows },
                }
            }
            None => match pair_flows(ep, dispatch, bytes * m64) {
                (flows, _) if flows.is_empty() => Work::Marker,
                (flows, latency) => Work::Transfer {
                    latency: Ps(latency.0 * m64),
                    flows,
                },
            },
        };
        let (cat, stream) = (if dispatch { ep.dispatch } else { ep.combine }, ep.stream);
        let o = OpSpec::new(stream, cat, work).after(after);
        self.add(o.at(self.step as u32, layer))
    }

    /// A replica's output head after its last layer (none when idle).
    fn ep_tail(&mut self, gi: usize, g: &GpuStep) -> Result<Option<OpId>, ScenarioError> {
        if g.tokens == 0 {
            return Ok(None);
        }
        let p = &self.plans[gi];
        let sampled = p.work.iter().filter(|w| w.samples).count() as u64;
        let launch = launch_of(self.engine.as_ref(), p);
        let t = self
            .cost
            .head_time(sampled, p.tokens(), p.prefill, launch)?;
        let o = OpSpec::new(self.gpus[gi].compute, self.cats.compute, Work::Delay(t));
        let nl = self.cost.num_layers();
        Ok(Some(self.add(o.after(g.last).at(self.step as u32, nl))?))
    }
}

/// One flow per (sender, receiver) pair with tokens to move, over its peer path; the
/// combine sends the dispatch's pairs back. The phase's latency is its slowest path's.
fn pair_flows(ep: &EpRun, dispatch: bool, token_bytes: u64) -> (Vec<FlowSpec>, Ps) {
    let g = ep.gpus;
    let mut flows = Vec::new();
    let mut latency = Ps::ZERO;
    for a in 0..g {
        for b in (0..g).filter(|&b| b != a) {
            let n = ep.routed.pairs[a * g + b];
            let (src, dst) = if dispatch { (a, b) } else { (b, a) };
            // Over a cluster the combine retraces the dispatch's links (`back`).
            let path = match dispatch || ep.back.is_empty() {
                true => &ep.paths[src * g + dst],
                false => &ep.back[a * g + b],
            };
            let Some((path, cap)) = path.as_ref().filter(|_| n > 0) else {
                continue;
            };
            latency = latency.max(path.latency);
            flows.push(FlowSpec {
                path: path.resources.clone(),
                bytes: n * token_bytes,
                rate_cap: *cap,
            });
        }
    }
    (flows, latency)
}

/// Every ordered pair's peer path on one node (`src * gpus + dst`; none to itself).
fn peer_paths(s: &Scenario, node: &NodeModel, gpus: usize) -> Result<Paths, ScenarioError> {
    let mut paths = Vec::with_capacity(gpus * gpus);
    for a in 0..gpus {
        for b in 0..gpus {
            paths.push(match a == b {
                true => None,
                false => Some(node.gpu_to_gpu(a, b).map_err(|e| ScenarioError::Wiring {
                    system: s.system.clone(),
                    message: e.to_string(),
                })?),
            });
        }
    }
    Ok(paths)
}

/// Each GPU's dispatch tokens, (sent to other GPUs, received from them), from the
/// step's `pairs` over `loads.len()` GPUs.
fn port_loads(pairs: &[u64], loads: &mut [(u64, u64)]) {
    let g = loads.len();
    for (i, l) in loads.iter_mut().enumerate() {
        let sent: u64 = (0..g).filter(|&j| j != i).map(|j| pairs[i * g + j]).sum();
        let got: u64 = (0..g).filter(|&j| j != i).map(|j| pairs[j * g + i]).sum();
        *l = (sent, got);
    }
}

/// Over a non-blocking switch: one flow per transmit port (all a GPU sends) and one per
/// receive port (all it receives), as (port, bytes), from each GPU's `loads`. The
/// combine moves the dispatch's tokens back, so its transmit loads are the dispatch's
/// receive loads and the other way round.
fn port_flows(
    loads: &[(u64, u64)],
    dispatch: bool,
    ports: &[(ResourceId, ResourceId)],
    token_bytes: u64,
) -> Vec<(ResourceId, u64)> {
    let mut flows = Vec::with_capacity(2 * loads.len());
    for (&(tx, rx), &(sent, got)) in ports.iter().zip(loads) {
        let (out, inc) = if dispatch { (sent, got) } else { (got, sent) };
        for (r, n) in [(tx, out), (rx, inc)] {
            if n > 0 {
                flows.push((r, n * token_bytes));
            }
        }
    }
    flows
}
