//! Whole-cluster expert parallelism in serving: an EP group of `expert_parallel` GPUs over
//! `expert_parallel / GPUs per node` nodes of the system's `[cluster]`, every GPU its own
//! rank (a data-parallel attention replica), each MoE layer's dispatch and combine one
//! flow per (sender, receiver) GPU pair routed over the wired fabric
//! ([`memwall_models::fabric::ClusterFabric::route`]: NVLink inside a node; else the
//! sender's PCIe port, its NIC, the leaf, the spines when the leaves differ, the far NIC
//! on the sender's plane and, on a multi-plane fat-tree, NVLink from that GPU to the
//! receiver). DeepSeek serves V3 this way: prefill EP32 over 4 nodes, decode EP144 over
//! 18 nodes (R192), EP320 over 40 in the V3 report (R15 §3.4).
//!
//! The scenario asks for it by setting `[engine] expert_parallel` above the node's GPU
//! count with `[moe]` on a system that has a `[cluster]` ([`WholeCluster::of`]); the step
//! loop then serves `expert_parallel / tensor_parallel` replicas on as many copies of the
//! node and takes each pair's path from the fabric (`crate::sim`'s EP step). Two limits:
//! the nodes' own links (PCIe to the host, HBM) are wired once more for the KV and host
//! traffic of the step loop, so that traffic and the all-to-all's PCIe hops do not share a
//! resource; and a replica's tensor-parallel group stays inside one node.
//!
//! [`round`] runs one dispatch and combine of given pair counts on the fabric alone, next
//! to the aggregate estimate for the same traffic ([`Aggregate`]), for the checks and the
//! bench (`cargo bench -p memwall-serve --bench ep_cluster`).

use memwall_models::fabric::{
    ClusterFabric, FabricError, PhaseResult, Redundant, ResClass, Route, Transfer,
};
use memwall_models::node::Path;
use memwall_models::spec::NodeSpec;
use memwall_models::SystemSpec;
use memwall_sim::{Executor, Ps, ResourceId, PS_PER_SEC};

use crate::error::ScenarioError;
use crate::scenario::Scenario;

/// An EP group placed over whole nodes of the system's `[cluster]`, and its fabric.
pub(crate) struct WholeCluster {
    fabric: ClusterFabric,
    nodes: usize,
    /// The links that cannot bind, found while the fabric still holds its flow network.
    redundant: Redundant,
}

/// A field error at `[engine] expert_parallel` (or another key of the scenario).
fn field(
    s: &Scenario,
    key: (&str, &str),
    value: String,
    message: String,
    hint: String,
) -> ScenarioError {
    let (table, name) = key;
    ScenarioError::Field {
        origin: s.origin.clone(),
        line: match table {
            "" => s.line_of_key(name),
            t => s.line_of_table_key(t, name),
        },
        field: match table {
            "" => name.to_string(),
            t => format!("{t}.{name}"),
        },
        value,
        message,
        hint,
    }
}

impl WholeCluster {
    /// `Some` when `[moe]` asks for more EP ranks than `sys`'s node has GPUs: checks that
    /// the cluster holds them in whole nodes and that nothing else in the scenario needs
    /// one node (`nodes`, disaggregated pools, Engram), then wires those nodes.
    pub(crate) fn of(
        s: &Scenario,
        sys: &SystemSpec,
        pooled: bool,
    ) -> Result<Option<WholeCluster>, ScenarioError> {
        let ep = s.engine.expert_parallel as usize;
        let gpn = sys.node.gpus.len().max(1);
        if s.moe.is_none() || ep <= gpn {
            return Ok(None);
        }
        let at = ("engine", "expert_parallel");
        let bad = |message: String, hint: String| Err(field(s, at, ep.to_string(), message, hint));
        let Some(cluster) = &sys.cluster else {
            return bad(
                format!("{ep} EP ranks exceed the {gpn} GPUs of a `{}` node, and it has no [cluster] to place them on", s.system),
                format!("set expert_parallel <= {gpn}, or pick a system with a [cluster] (e.g. deepseek-h800-cluster)"),
            );
        };
        if !ep.is_multiple_of(gpn) {
            return bad(
                format!("a whole-cluster EP group takes whole nodes of {gpn} GPUs"),
                format!("use a multiple of {gpn} (DeepSeek: 32 for prefill, 144 for decode)"),
            );
        }
        let nodes = ep / gpn;
        if nodes > cluster.nodes as usize {
            return bad(
                format!("needs {nodes} nodes; `{}` has {}", s.system, cluster.nodes),
                format!("use at most {} GPUs", cluster.nodes as usize * gpn),
            );
        }
        let other = if s.nodes.is_some_and(|n| n > 1) {
            Some(("nodes joins the nodes of one NVLink domain; a whole-cluster EP group places its own nodes", "drop nodes"))
        } else if pooled {
            Some((
                "disaggregated pools share one node",
                "drop [disaggregation], or keep expert_parallel within the node",
            ))
        } else if s.engram.is_some() {
            Some((
                "Engram tiers are wired per node, not yet over a cluster",
                "drop [engram], or keep expert_parallel within the node",
            ))
        } else {
            None
        };
        if let Some((why, fix)) = other {
            return bad(format!("whole-cluster placement: {why}"), fix.to_string());
        }
        let fabric = ClusterFabric::build(sys, Some(nodes as u32), 1_000_000).map_err(|e| {
            ScenarioError::Wiring {
                system: s.system.clone(),
                message: e.to_string(),
            }
        })?;
        let redundant = fabric.redundant();
        Ok(Some(WholeCluster {
            fabric,
            nodes,
            redundant,
        }))
    }

    /// The step loop's node: `nodes` copies of the system's.
    pub(crate) fn node(&self, one: &NodeSpec) -> NodeSpec {
        crate::rack::expand(one, self.nodes)
    }

    /// An executor on the fabric's links (the routes stay valid: they are resource ids).
    pub(crate) fn executor(&mut self) -> Executor {
        Executor::new(std::mem::take(&mut self.fabric.net))
    }

    /// A replica's tensor-parallel group must sit in one node.
    pub(crate) fn check_tp(&self, s: &Scenario, tp: usize) -> Result<(), ScenarioError> {
        let gpn = self.fabric.gpus_per_node;
        if gpn.is_multiple_of(tp) {
            return Ok(());
        }
        Err(field(
            s,
            ("engine", "tensor_parallel"),
            tp.to_string(),
            format!("with whole-cluster EP a replica's TP group sits in one {gpn}-GPU node"),
            format!("use a divisor of {gpn} (DeepSeek serves with TP1)"),
        ))
    }

    /// Every ordered pair's dispatch path over the fabric (`src * gpus + dst`; none to
    /// itself) and the combine's path of that pair, back (see [`back_route`]).
    pub(crate) fn paths(&self, s: &Scenario, gpus: usize) -> Result<(Paths, Paths), ScenarioError> {
        let wiring = |e: FabricError| ScenarioError::Wiring {
            system: s.system.clone(),
            message: e.to_string(),
        };
        let redundant = &self.redundant;
        let path = |r: Route| {
            Some((
                Path {
                    resources: redundant.strip(r.resources),
                    latency: r.latency,
                },
                None,
            ))
        };
        let (mut out, mut back) = (
            Vec::with_capacity(gpus * gpus),
            Vec::with_capacity(gpus * gpus),
        );
        for a in 0..gpus {
            for b in 0..gpus {
                if a == b {
                    out.push(None);
                    back.push(None);
                    continue;
                }
                out.push(path(self.fabric.route(a, b).map_err(wiring)?));
                back.push(path(back_route(&self.fabric, a, b).map_err(wiring)?));
            }
        }
        Ok((out, back))
    }
}

/// Each ordered pair's path and rate cap, as the step loop keeps them.
pub(crate) type Paths = Vec<Option<(Path, Option<u64>)>>;

/// The combine's path from `b` back to `a`: the dispatch's links in reverse. Inside an
/// NVLink domain, NVLink; else NVLink from `b` to the GPU of its node on `a`'s plane (the
/// dispatch's relay), then that GPU's NIC to `a`'s, as DeepEP's combine returns tokens
/// the way they came. (The dispatch's [`ClusterFabric::route`] from `b` would leave by
/// `b`'s own NIC and forward at `a`'s node: a hot expert's GPU would then send every
/// result through one NIC.)
pub fn back_route(f: &ClusterFabric, a: usize, b: usize) -> Result<Route, FabricError> {
    let domain = |g: usize| g / (f.gpus_per_node * f.nodes_per_domain).max(1);
    if domain(a) == domain(b) {
        return f.route(b, a);
    }
    let relay = f.relay(a, b)?;
    let fabric = f.rdma_route(relay, a)?;
    if relay == b {
        return Ok(fabric);
    }
    let mut r = f.nvlink_route(b, relay)?;
    r.resources.extend(fabric.resources);
    r.latency += fabric.latency;
    Ok(r)
}

/// The aggregate estimate of one phase from the same traffic: every flow's bytes summed on
/// the GPU endpoints it crosses (NVLink ports, NIC ports), the busiest at its rate after
/// the slowest route's latency; and the balanced figure, each endpoint class's bytes
/// spread evenly over its links (what a bandwidth-only all-to-all model assumes).
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub time: Ps,
    pub balanced: Ps,
    /// The busiest endpoint link, its bytes, and the mean bytes of its class's links.
    pub busiest: String,
    pub busiest_bytes: u128,
    pub mean_bytes: u128,
}

/// Bytes the traffic of one phase puts on the fabric, counted from the pairs and routes
/// (not from the run): what the run's links must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Traffic {
    /// Each token's bytes once per destination GPU.
    pub injected: u128,
    /// Of which to another node (each crosses one NIC out and one NIC in).
    pub remote: u128,
    /// Remote bytes landing on a GPU other than their destination, forwarded over NVLink
    /// (a multi-plane fabric's cross-plane traffic), and bytes between GPUs of one node.
    pub forwarded: u128,
    pub local: u128,
}

/// One phase: the fabric's run, the aggregate estimate and the traffic's bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    pub fabric: PhaseResult,
    pub aggregate: Aggregate,
    pub traffic: Traffic,
}

/// One all-to-all round: dispatch, then combine (the same pairs back).
#[derive(Debug, Clone, PartialEq)]
pub struct Round {
    pub gpus: usize,
    pub nodes: usize,
    pub dispatch: Phase,
    pub combine: Phase,
}

/// Runs one dispatch (`pairs[src * gpus + dst]` tokens of `token_bytes.0` bytes) and its
/// combine (`token_bytes.1` per token, back) over the first `gpus / GPUs per node` nodes of
/// `sys`'s cluster at the links' achievable rates, the links that cannot bind left out of
/// the flows' paths as in the step loop.
pub fn round(
    sys: &SystemSpec,
    gpus: usize,
    pairs: &[u64],
    token_bytes: (u64, u64),
) -> Result<Round, FabricError> {
    round_with(sys, (gpus, pairs), token_bytes, true)
}

/// [`round`], with `prune = false` keeping every link in the paths (each link's bytes
/// then show in the run's loads; the times are the same).
pub fn round_with(
    sys: &SystemSpec,
    (gpus, pairs): (usize, &[u64]),
    token_bytes: (u64, u64),
    prune: bool,
) -> Result<Round, FabricError> {
    let gpn = sys.node.gpus.len().max(1);
    let unsupported = |what: String| FabricError::Unsupported {
        system: sys.name.clone(),
        what,
    };
    if gpus == 0 || !gpus.is_multiple_of(gpn) || pairs.len() != gpus * gpus {
        return Err(unsupported(format!(
            "{gpus} GPUs ({} pair counts): a round takes whole nodes of {gpn} GPUs and one count per ordered pair",
            pairs.len()
        )));
    }
    let mut f = ClusterFabric::build(sys, Some((gpus / gpn) as u32), 1_000_000)?;
    if f.gpu_count() < gpus {
        return Err(unsupported(format!(
            "{gpus} GPUs; the cluster has {}",
            f.gpu_count()
        )));
    }
    let redundant = if prune {
        f.redundant()
    } else {
        Redundant::default()
    };
    let dispatch = phase(&mut f, (gpus, pairs), (token_bytes.0, &redundant), false)?;
    let combine = phase(&mut f, (gpus, pairs), (token_bytes.1, &redundant), true)?;
    Ok(Round {
        gpus,
        nodes: f.nodes,
        dispatch,
        combine,
    })
}

/// One phase's transfers (the pairs, reversed for the combine), run and estimated.
fn phase(
    f: &mut ClusterFabric,
    (gpus, pairs): (usize, &[u64]),
    (token_bytes, redundant): (u64, &Redundant),
    reverse: bool,
) -> Result<Phase, FabricError> {
    let mut transfers = Vec::new();
    let mut traffic = Traffic::default();
    let node = |g: usize| g / f.gpus_per_node;
    for a in 0..gpus {
        for b in (0..gpus).filter(|&b| b != a && pairs[a * gpus + b] > 0) {
            let bytes = pairs[a * gpus + b] * token_bytes;
            traffic.injected += bytes as u128;
            if node(a) == node(b) {
                traffic.local += bytes as u128;
            } else {
                traffic.remote += bytes as u128;
                if f.relay(a, b)? != b {
                    traffic.forwarded += bytes as u128;
                }
            }
            let mut route = match reverse {
                true => back_route(f, a, b)?,
                false => f.route(a, b)?,
            };
            route.resources = redundant.strip(route.resources);
            transfers.push(Transfer { route, bytes });
        }
    }
    let aggregate = aggregate(f, &transfers);
    Ok(Phase {
        fabric: f.run_phase(&transfers)?,
        aggregate,
        traffic,
    })
}

/// Time to move `bytes` at `rate` bytes per second, rounded up.
fn wire(bytes: u128, rate: u128) -> u64 {
    (bytes * PS_PER_SEC as u128).div_ceil(rate.max(1)) as u64
}

/// [`Aggregate`] of `transfers` on `f`'s links.
fn aggregate(f: &ClusterFabric, transfers: &[Transfer]) -> Aggregate {
    let n = f.net.resource_count();
    let mut load = vec![0u128; n];
    for t in transfers {
        for r in &t.route.resources {
            load[r.0 as usize] += t.bytes as u128;
        }
    }
    let latency = transfers
        .iter()
        .map(|t| t.route.latency)
        .max()
        .unwrap_or(Ps::ZERO);
    let mut out = Aggregate {
        time: latency,
        balanced: latency,
        busiest: String::new(),
        busiest_bytes: 0,
        mean_bytes: 0,
    };
    for class in [ResClass::Nic, ResClass::Nvlink] {
        let ids: Vec<ResourceId> = (0..n as u32)
            .map(ResourceId)
            .filter(|&r| f.class(r) == class)
            .collect();
        let bytes: u128 = ids.iter().map(|r| load[r.0 as usize]).sum();
        let cap: u128 = ids.iter().map(|&r| f.net.capacity(r) as u128).sum();
        out.balanced = out.balanced.max(latency + Ps(wire(bytes, cap)));
        for &r in &ids {
            let b = load[r.0 as usize];
            let t = latency + Ps(wire(b, f.net.capacity(r) as u128));
            if t > out.time {
                out.time = t;
                out.busiest = f.net.resource_name(r).to_string();
                out.busiest_bytes = b;
                out.mean_bytes = bytes / ids.len() as u128;
            }
        }
    }
    out
}
