//! A whole training step in whole-cluster mode: the schedule's ranks are laid over every
//! GPU of the cluster's fabric ([`ClusterFabric`]) and all communication runs as
//! per-GPU-pair flows over the real routes (GPU PCIe port, NIC, leaf, spine and back;
//! NVLink inside a domain), instead of one aggregate NIC and NVLink flow per rank.
//!
//! What a rank is here: a *lane*, the `ep` GPUs of one EP group at one pipeline rank
//! (DeepSeek-V3 on 2,048 GPUs: 16 pipeline ranks x 2 EP64 groups = 32 lanes). The
//! schedule is repeated once per EP group of a pipeline rank (`dp / ep` bundles), so the
//! DP copies of a stage are simulated, not assumed. Every GPU of a lane runs the same
//! compute ops (the same layers on the same number of tokens), so a lane keeps one
//! compute stream for its GPUs; its communication ops are all of its GPUs' flows:
//! - an all-to-all: one flow per (sender, relay) pair over the fabric and one per
//!   (forwarder, target) pair over NVLink, bytes from every token routed
//!   ([`super::route_tokens`]'s routing, one seeded draw per EP group and layer slot of
//!   a chunk, reused by every micro-batch); the op ends when the group's last flow lands,
//!   which is when the last GPU of the group has all its tokens (the group's barrier);
//! - a pipeline message: one flow per GPU to the GPU at the same position of the next
//!   lane (same plane of a multi-plane fabric);
//! - a data-parallel reduce-scatter or all-gather: one ring flow per GPU to its
//!   neighbour among the copies (lanes holding the same stages), the ring's bytes and
//!   latency as the aggregate model counts them.
//!
//! The aggregate model caps a rank's two all-to-all flows at the link's rate times the
//! calibrated all-to-all efficiency; here each GPU gets four *engine* resources at those
//! same rates (fabric send and receive, NVLink send and receive) that its all-to-all
//! flows cross besides the links, so the links run at their full rate for P2P and DP
//! traffic, as in the aggregate model. Latencies are the aggregate model's, per op.

use std::collections::HashMap;
use std::sync::Arc;

use memwall_models::fabric::{ClusterFabric, Redundant, ResClass};
use memwall_models::SystemSpec;
use memwall_pipeline::Schedule;
use memwall_sim::{FlowNet, FlowSpec, ResourceId};

use super::{route_group, Bits, EpSetup, EpTraffic, Layout, Scratch};
use crate::a2a::{A2aBytes, EpGeometry};
use crate::{
    effective_model, rank_stages, run_step_wired, Plan, TrainConfig, TrainError, TrainRun, Wiring,
};
use memwall_llm::ModelRegistry;
use memwall_models::Registry;

/// Shared flow lists, one per distinct communication pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    A2a {
        lane: usize,
        layer: u32,
        to_experts: bool,
        /// Per GPU over the fabric and over NVLink.
        bytes: (u64, u64),
    },
    P2p {
        src: usize,
        dst: usize,
        bytes: u64,
    },
    Ring {
        lane: usize,
        group: u32,
        wire: u64,
        cap: u64,
    },
}

/// The fabric, the lanes over it, and the flows of each pattern ([`Wiring`]).
pub struct WholeCluster {
    fabric: ClusterFabric,
    setup: EpSetup,
    layout: Layout,
    /// Pipeline ranks, EP groups per pipeline rank (bundles), and the bundles each
    /// simulated lane stands for (1, or all of them when folded).
    ranks: usize,
    bundles: usize,
    folded: usize,
    /// GPUs of each lane (builder rank), in its EP group's order.
    lanes: Vec<Vec<usize>>,
    /// Per GPU its all-to-all engines: fabric send, fabric receive, NVLink send, receive.
    engines: Vec<[ResourceId; 4]>,
    /// Links flows leave out of their paths (none when not pruning).
    redundant: Redundant,
    /// The lanes holding the same stages as each lane (its DP copies, itself included).
    copies: Vec<Vec<usize>>,
    /// Expected token copies per GPU of one all-to-all: over the fabric, over NVLink.
    expected: (f64, f64),
    routed: HashMap<(usize, u32), EpTraffic>,
    patterns: HashMap<Key, Arc<[FlowSpec]>>,
}

/// How to run a whole-cluster step; both default to on and change no result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WholeOptions {
    /// Leave links that cannot bind out of the flows' paths (`ClusterFabric::redundant`).
    pub prune: bool,
    /// Simulate one EP group per pipeline rank when the others are its mirror images.
    pub fold: bool,
}

impl Default for WholeOptions {
    fn default() -> Self {
        WholeOptions {
            prune: true,
            fold: true,
        }
    }
}

/// A step in whole-cluster mode, with what it ran on.
#[derive(Debug)]
pub struct WholeRun {
    /// The plan as run: its schedule repeated once per simulated EP group of a
    /// pipeline rank.
    pub plan: Plan,
    pub run: TrainRun,
    /// GPUs the step covers, lanes simulated, and the EP groups each lane stands for.
    pub gpus: usize,
    pub lanes: usize,
    pub folded: usize,
    pub links: usize,
    /// Distinct shared flow lists and the flows in them.
    pub patterns: usize,
    pub pattern_flows: usize,
}

/// Whether every resource two EP groups of a pipeline rank could share (a leaf trunk)
/// is redundant: then shifting the groups of every pipeline rank by one maps the
/// remaining network (per GPU, NIC, node and NVLink domain) onto itself, flows onto
/// flows, so with the same routing every group of a pipeline rank runs the same
/// timeline (a max-min allocation is unique, hence invariant under the symmetry).
fn foldable(f: &ClusterFabric, redundant: &Redundant) -> bool {
    (0..f.net.resource_count() as u32).map(ResourceId).all(|r| {
        let shared = matches!(f.class(r), ResClass::LeafUp | ResClass::LeafDown);
        !shared || redundant.contains(r)
    })
}

impl WholeCluster {
    /// Wires `sys`'s cluster and lays the lanes over it: simulated lane `b * ranks + r`
    /// is EP group `r * bundles + b` (a pipeline rank's groups on consecutive nodes).
    /// Returns the plan with its schedule repeated once per simulated group.
    fn new(
        plan: &Plan,
        sys: &SystemSpec,
        setup: EpSetup,
        bundles: usize,
        opts: WholeOptions,
    ) -> Result<(WholeCluster, Plan), TrainError> {
        let mut fabric = ClusterFabric::build(sys, None, 1_000_000)?;
        let redundant = if opts.prune {
            fabric.redundant()
        } else {
            Redundant::default()
        };
        let layout = Layout::new(&fabric, &setup)?;
        let ranks = plan.schedule.ranks.len();
        if layout.groups < ranks * bundles {
            return Err(TrainError::Config(format!(
                "whole-cluster: {ranks} pipeline ranks x {bundles} EP{} groups need {} GPUs; `{}` \
                 wires {}",
                setup.ep,
                ranks * bundles * setup.ep as usize,
                sys.name,
                fabric.gpu_count()
            )));
        }
        let folded = if opts.fold && foldable(&fabric, &redundant) {
            bundles
        } else {
            1
        };
        let mut plan = plan.clone();
        plan.schedule = repeat(&plan.schedule, bundles / folded);
        let engines = add_engines(&mut fabric, &plan)?;
        let geom = EpGeometry::new(
            setup.ep,
            plan.hw.scale_up_domain(),
            setup.node_limit,
            setup.k,
        );
        // Token copies per GPU, to 2^-20 of a token.
        let e = geom.bytes(setup.tokens, 1 << 20);
        let unit = (1u64 << 20) as f64;
        let mut w = WholeCluster {
            fabric,
            setup,
            layout,
            ranks,
            bundles,
            folded,
            lanes: Vec::new(),
            engines,
            redundant,
            copies: copies(&plan.schedule),
            expected: (e.scale_out as f64 / unit, e.scale_up as f64 / unit),
            routed: HashMap::new(),
            patterns: HashMap::new(),
        };
        let ep = w.setup.ep as usize;
        w.lanes = (0..plan.schedule.ranks.len())
            .map(|lane| (0..ep).map(|p| w.gpu_at(lane, 0, p)).collect())
            .collect();
        Ok((w, plan))
    }

    /// EP group of simulated lane `lane`, `shift` groups on (a bundle it stands for).
    fn group(&self, lane: usize, shift: usize) -> usize {
        let (r, b) = (lane % self.ranks, lane / self.ranks);
        r * self.bundles + (b + shift) % self.bundles
    }

    /// The GPU at position `pos` of lane `lane`'s group, `shift` groups on.
    fn gpu_at(&self, lane: usize, shift: usize, pos: usize) -> usize {
        let l = &self.layout;
        l.base(self.group(lane, shift), pos / l.domain) + pos % l.domain
    }

    /// The routed traffic of lane `lane`'s EP group in layer slot `layer`: one seeded
    /// draw per pipeline rank and layer slot, the same for every group of the rank.
    fn traffic(&mut self, lane: usize, layer: u32) -> &EpTraffic {
        let g = self.group(lane, 0);
        let r = (lane % self.ranks) as u64;
        let (l, s) = (&self.layout, &self.setup);
        self.routed.entry((lane, layer)).or_insert_with(|| {
            let seed = s.seed ^ (r << 32 | layer as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut out = EpTraffic::default();
            let mut scratch = Scratch::new(l, s);
            route_group(l, s, g, &mut Bits::new(seed), &mut scratch, &mut out);
            out
        })
    }

    fn a2a_flows(
        &mut self,
        lane: usize,
        layer: u32,
        b: A2aBytes,
        to_experts: bool,
    ) -> Result<Vec<FlowSpec>, TrainError> {
        let (out_e, up_e) = self.expected;
        let t = self.traffic(lane, layer).clone();
        let f = &self.fabric;
        let eng = &self.engines;
        let mut flows = Vec::with_capacity(t.fabric.len() + t.nvlink.len());
        let scale = |tokens: u64, bytes: u64, per: f64| {
            (tokens as f64 * bytes as f64 / per.max(f64::MIN_POSITIVE)).round() as u64
        };
        for (pairs, nvlink) in [(&t.fabric, false), (&t.nvlink, true)] {
            for &(a, c, n) in pairs {
                let (src, dst) = if to_experts { (a, c) } else { (c, a) };
                let (src, dst) = (src as usize, dst as usize);
                let (route, tx, rx, bytes) = if nvlink {
                    (f.nvlink_route(src, dst)?, 2, 3, scale(n, b.scale_up, up_e))
                } else {
                    (f.rdma_route(src, dst)?, 0, 1, scale(n, b.scale_out, out_e))
                };
                let mut path = Vec::with_capacity(route.resources.len() + 2);
                path.push(eng[src][tx]);
                path.extend(self.redundant.strip(route.resources));
                path.push(eng[dst][rx]);
                flows.push(FlowSpec {
                    path,
                    bytes,
                    rate_cap: None,
                });
            }
        }
        Ok(flows)
    }

    /// Each GPU of `lane` to its ring neighbour among the GPUs of the lane's copies in
    /// every group they stand for (group-major, then lane, then position): the next GPU
    /// for a ring over all of them, the same position of the next copy for a ring over
    /// one GPU per copy. A neighbour in a folded group is reached over its mirror image:
    /// the sender's side of the true route, then the receiver's side of the route that
    /// the symmetry maps it to (into the simulated group).
    fn ring_flows(
        &self,
        lane: usize,
        group: u32,
        wire: u64,
        cap: u64,
    ) -> Result<Vec<FlowSpec>, TrainError> {
        let peers = &self.copies[lane];
        let g = self.lanes[lane].len();
        let per = peers.len() * g;
        let members = self.folded * per;
        let stride = (members / (group as usize).clamp(1, members)).max(1);
        let me = peers.iter().position(|&p| p == lane).unwrap_or(0);
        let mut out = Vec::with_capacity(g);
        for pos in 0..g {
            let k = (me * g + pos + stride) % members;
            let (shift, to, at) = (k / per, peers[(k % per) / g], k % g);
            let src = self.lanes[lane][pos];
            let path = if shift == 0 {
                let dst = self.lanes[to][at];
                if dst == src {
                    continue;
                }
                self.fabric.route(src, dst)?.resources
            } else {
                let near = self
                    .fabric
                    .route(src, self.gpu_at(to, shift, at))?
                    .resources;
                let pre = self.gpu_at(lane, self.folded - shift, pos);
                let far = self.fabric.route(pre, self.lanes[to][at])?.resources;
                let cut = |p: &[ResourceId]| {
                    p.iter()
                        .position(|&r| self.fabric.class(r) == ResClass::Nic)
                        .map_or(p.len(), |i| i + 1)
                };
                let mut path = near[..cut(&near)].to_vec();
                path.extend_from_slice(&far[cut(&far)..]);
                path
            };
            out.push(FlowSpec {
                path: self.redundant.strip(path),
                bytes: wire,
                rate_cap: Some(cap),
            });
        }
        Ok(out)
    }

    fn pattern(
        &mut self,
        key: Key,
        make: impl FnOnce(&mut Self) -> Result<Vec<FlowSpec>, TrainError>,
    ) -> Result<Arc<[FlowSpec]>, TrainError> {
        if let Some(p) = self.patterns.get(&key) {
            return Ok(p.clone());
        }
        let p: Arc<[FlowSpec]> = make(self)?.into();
        self.patterns.insert(key, p.clone());
        Ok(p)
    }
}

impl Wiring for WholeCluster {
    fn take_net(&mut self) -> FlowNet {
        std::mem::take(&mut self.fabric.net)
    }

    fn a2a(
        &mut self,
        lane: usize,
        layer: u32,
        bytes: A2aBytes,
        to_experts: bool,
    ) -> Result<Arc<[FlowSpec]>, TrainError> {
        let key = Key::A2a {
            lane,
            layer,
            to_experts,
            bytes: (bytes.scale_out, bytes.scale_up),
        };
        self.pattern(key, |w| w.a2a_flows(lane, layer, bytes, to_experts))
    }

    fn p2p(&mut self, src: usize, dst: usize, bytes: u64) -> Result<Arc<[FlowSpec]>, TrainError> {
        self.pattern(Key::P2p { src, dst, bytes }, |w| {
            let (a, b) = (&w.lanes[src], &w.lanes[dst]);
            a.iter()
                .zip(b)
                .map(|(&s, &d)| {
                    Ok(FlowSpec {
                        path: w.redundant.strip(w.fabric.route(s, d)?.resources),
                        bytes,
                        rate_cap: None,
                    })
                })
                .collect()
        })
    }

    fn collective(
        &mut self,
        lane: usize,
        group: u32,
        wire: u64,
        cap: u64,
    ) -> Result<Arc<[FlowSpec]>, TrainError> {
        let key = Key::Ring {
            lane,
            group,
            wire,
            cap,
        };
        self.pattern(key, |w| w.ring_flows(lane, group, wire, cap))
    }
}

/// Per GPU the four all-to-all engines at the aggregate model's capped rates.
fn add_engines(f: &mut ClusterFabric, plan: &Plan) -> Result<Vec<[ResourceId; 4]>, TrainError> {
    let eff = plan.a2a_efficiency;
    let cap = |bw: u64| ((bw as f64 * eff).round() as u64).max(1);
    let (nic, nvl) = (
        cap(plan.hw.nic_bandwidth()),
        cap(plan.hw.scale_up_bandwidth()),
    );
    (0..f.gpu_count())
        .map(|g| {
            let mut add = |n: &str, c: u64| f.net.add_resource(format!("gpu{g}/a2a-{n}"), c);
            Ok([
                add("nic-tx", nic)?,
                add("nic-rx", nic)?,
                add("nvl-tx", nvl)?,
                add("nvl-rx", nvl)?,
            ])
        })
        .collect()
}

/// Per rank, the ranks holding the same stages (in rank order, itself included).
fn copies(s: &Schedule) -> Vec<Vec<usize>> {
    let held = rank_stages(s);
    held.iter()
        .map(|h| (0..held.len()).filter(|&q| &held[q] == h).collect())
        .collect()
}

/// `s` with its ranks repeated `n` times, each copy's dependencies within itself.
fn repeat(s: &Schedule, n: usize) -> Schedule {
    let r = s.ranks.len();
    let mut out = s.clone();
    out.ranks = (0..n)
        .flat_map(|b| {
            s.ranks.iter().map(move |ops| {
                ops.iter()
                    .map(|op| {
                        let mut op = op.clone();
                        for d in &mut op.deps {
                            d.producer.rank += (b * r) as u32;
                        }
                        op
                    })
                    .collect()
            })
        })
        .collect();
    out.num_ranks = (r * n) as u32;
    out
}

/// One training step of `plan` in whole-cluster mode on `sys`'s cluster, `dp` GPUs per
/// pipeline rank in EP groups as `setup` routes them.
pub fn run_whole_cluster(
    plan: &Plan,
    sys: &SystemSpec,
    setup: EpSetup,
    dp: u32,
    opts: WholeOptions,
) -> Result<WholeRun, TrainError> {
    if setup.ep == 0 || !dp.is_multiple_of(setup.ep) {
        return Err(TrainError::Config(format!(
            "whole-cluster: ep = {} must divide dp = {dp} (each pipeline rank's GPUs in whole EP \
             groups)",
            setup.ep
        )));
    }
    let bundles = (dp / setup.ep) as usize;
    let (mut w, plan) = WholeCluster::new(plan, sys, setup, bundles, opts)?;
    let links = w.fabric.net.resource_count();
    let run = run_step_wired(&plan, &mut w)?;
    Ok(WholeRun {
        gpus: w.lanes.len() * w.folded * w.setup.ep as usize,
        lanes: w.lanes.len(),
        folded: w.folded,
        patterns: w.patterns.len(),
        pattern_flows: w.patterns.values().map(|p| p.len()).sum(),
        plan,
        run,
        links,
    })
}

/// `memwall train --whole-cluster`: `plan`'s step on its system's wired cluster, EP
/// groups as `cfg` sets them (routing seed 0), both options on.
pub fn run_for_config(
    cfg: &TrainConfig,
    plan: &Plan,
    reg: &Registry,
    models: &ModelRegistry,
) -> Result<WholeRun, TrainError> {
    let sys = reg.system(&plan.hw.name).map_err(TrainError::Profiles)?;
    let setup = EpSetup::from_config(cfg, &effective_model(cfg, models)?)?;
    run_whole_cluster(plan, &sys, setup, cfg.dp, WholeOptions::default())
}

#[cfg(test)]
mod tests;
