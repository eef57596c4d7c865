//! What a collective costs on a system's real links (docs/collectives.md).
//!
//! [`predict`]: NCCL's algorithms (ring, tree, NVLink SHARP, direct peer-to-peer)
//!   under its protocols (LL, LL128, Simple) over the path the ranks span: NVLink
//!   inside an NVLink domain, PCIe through the host bridge for GPUs without NVLink,
//!   the NICs across nodes (hierarchical: NVLink or PCIe steps inside a node, network
//!   steps between nodes). Each candidate's time is a latency term (a base per
//!   collective plus a cost per step) and a bandwidth term (bytes over the bus
//!   bandwidth the protocol reaches on the slowest hop); the model picks the fastest,
//!   as NCCL's tuner does, and says which. Every latency, efficiency, ceiling and NVLS
//!   figure is profile data (`[collective]` of a link or NIC) with basis and source.
//!
//! Serving, replay and training (its data-parallel collectives, through
//! [`candidates_placed`]) all take collective times from [`predict`]'s model.
//!
//! Sizes follow nccl-tests: the full buffer (the reduced buffer for all-reduce, the
//! gathered output for all-gather, the input for reduce-scatter and all-to-all, the
//! message for broadcast, reduce and send/recv).

use crate::spec::{CollectiveSpec, NvlsSpec, ProtocolSet, ProtocolSpec, SystemSpec};
use crate::units::apply_fraction;

/// A collective, as far as its cost is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collective {
    AllReduce,
    AllGather,
    ReduceScatter,
    Reduce,
    Broadcast,
    AllToAll,
    SendRecv,
}

impl Collective {
    pub fn label(self) -> &'static str {
        match self {
            Collective::AllReduce => "all-reduce",
            Collective::AllGather => "all-gather",
            Collective::ReduceScatter => "reduce-scatter",
            Collective::Reduce => "reduce",
            Collective::Broadcast => "broadcast",
            Collective::AllToAll => "all-to-all",
            Collective::SendRecv => "send-recv",
        }
    }

    /// nccl-tests' bus-bandwidth factor `(num, den)`: busbw = algbw x num / den
    /// (all-reduce 2(n-1)/n; all-gather, reduce-scatter, all-to-all (n-1)/n; else 1).
    pub fn bus_factor(self, n: u32) -> (u64, u64) {
        let n = n.max(1) as u64;
        match self {
            Collective::AllReduce => (2 * (n - 1), n),
            Collective::AllGather | Collective::ReduceScatter | Collective::AllToAll => (n - 1, n),
            _ => (1, 1),
        }
    }
}

/// NCCL algorithm. Replay reads `Ring` and `Tree` from kernel names (`_RING_`,
/// `_TREE_`); `Nvls` is NVLink SHARP (the switch reduces); `Direct` is the
/// point-to-point exchange NCCL runs all-to-all and send/recv as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Ring,
    Tree,
    Nvls,
    Direct,
}

impl Algorithm {
    pub const ALL: [Algorithm; 4] = [
        Algorithm::Ring,
        Algorithm::Tree,
        Algorithm::Nvls,
        Algorithm::Direct,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Algorithm::Ring => "ring",
            Algorithm::Tree => "tree",
            Algorithm::Nvls => "nvls",
            Algorithm::Direct => "direct",
        }
    }
}

/// NCCL protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Ll,
    Ll128,
    Simple,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Ll, Protocol::Ll128, Protocol::Simple];

    pub fn label(self) -> &'static str {
        match self {
            Protocol::Ll => "LL",
            Protocol::Ll128 => "LL128",
            Protocol::Simple => "Simple",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The path a collective's ranks span.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PathKind {
    /// Inside one NVLink domain.
    Nvlink,
    /// GPUs without NVLink, through PCIe and the host bridge.
    PcieHost,
    /// Across nodes over the NICs (NVLink or PCIe inside each node).
    Network,
}

impl PathKind {
    pub fn label(self) -> &'static str {
        match self {
            PathKind::Nvlink => "nvlink",
            PathKind::PcieHost => "pcie-host",
            PathKind::Network => "network",
        }
    }
}

/// Why a collective cannot be costed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CollectiveError {
    #[error("a collective needs at least 1 rank (got {0})")]
    NoRanks(u32),
    #[error("{system}: {ranks} ranks span {nodes} nodes but the system has no NIC: pick at most {per_node} ranks, or a system with NICs")]
    NoNetwork {
        system: String,
        ranks: u32,
        nodes: u32,
        per_node: u32,
    },
    #[error(
        "{system}: {alg} {proto} cannot run {coll} on {ranks} ranks here (available: {available})"
    )]
    NotAvailable {
        system: String,
        coll: &'static str,
        alg: &'static str,
        proto: String,
        ranks: u32,
        available: String,
    },
}

/// One hop of the path: per-direction bandwidth, the link's own latency, and its
/// `[collective]` data where the profile has it.
#[derive(Debug, Clone, Copy)]
struct Hop<'a> {
    bandwidth: u64,
    /// Floor on the latency of one step (the peer path's latency).
    step_floor_ps: u64,
    link_latency_ps: u64,
    spec: Option<&'a CollectiveSpec>,
}

impl Hop<'_> {
    /// The protocol figures of an algorithm on this hop. Without `[collective]` data the
    /// ring runs one protocol (Simple) at the link's own bandwidth and latency.
    fn protocol(&self, alg: Algorithm, p: Protocol) -> Option<ProtocolSpec> {
        let set: Option<&ProtocolSet> = match (self.spec, alg) {
            (Some(s), Algorithm::Tree) => s.tree.as_ref(),
            (Some(s), _) => Some(&s.ring),
            (None, Algorithm::Tree) => None,
            (None, _) => {
                return (p == Protocol::Simple).then_some(ProtocolSpec {
                    base_latency_ps: 0,
                    step_latency_ps: self.link_latency_ps,
                    efficiency_ppm: 1_000_000,
                    max_bus_bandwidth: None,
                })
            }
        };
        let mut pr = set?.0[p.index()]?;
        pr.step_latency_ps = pr.step_latency_ps.max(self.step_floor_ps);
        Some(pr)
    }

    /// Bus bandwidth under protocol `pr`: the hop's bandwidth times the protocol's
    /// efficiency, capped by its ceiling.
    fn bus_bandwidth(&self, pr: &ProtocolSpec) -> u64 {
        let bw = apply_fraction(self.bandwidth, pr.efficiency_ppm);
        pr.max_bus_bandwidth.map_or(bw, |m| bw.min(m)).max(1)
    }
}

/// The links a collective over `ranks` GPUs of a system crosses.
#[derive(Debug, Clone, Copy)]
struct Fabric<'a> {
    kind: PathKind,
    ranks: u32,
    /// Ranks per node (per NVLink domain) and nodes (domains).
    per_node: u32,
    nodes: u32,
    intra: Hop<'a>,
    inter: Option<Hop<'a>>,
}

/// The path `ranks` GPUs of `sys` span, at most `per_node` of them in one NVLink domain
/// (node): the NVLink domain, or PCIe through the host for GPUs without NVLink, and the
/// NICs once the ranks outgrow one domain (node).
fn fabric(sys: &SystemSpec, ranks: u32, per_node: u32) -> Result<Fabric<'_>, CollectiveError> {
    if ranks == 0 {
        return Err(CollectiveError::NoRanks(ranks));
    }
    let n = &sys.node;
    let (kind, domain, intra) = match &n.nvlink {
        Some(nv) => (PathKind::Nvlink, nv.domain_size.max(1), link_hop(&nv.link)),
        None => {
            let host = n.gpus.first().map_or(&n.gpu.host_link, |g| &g.host_link);
            let mut hop = link_hop(host);
            if let Some(peer) = host.collective.as_ref().and_then(|c| c.peer) {
                hop.bandwidth = peer.bandwidth;
                hop.step_floor_ps = peer.latency_ps;
            }
            (PathKind::PcieHost, (n.gpus.len() as u32).max(1), hop)
        }
    };
    let domain = domain.min(per_node.max(1));
    if ranks <= domain {
        let f = Fabric {
            kind,
            ranks,
            per_node: ranks,
            nodes: 1,
            intra,
            inter: None,
        };
        return Ok(f);
    }
    let nodes = ranks.div_ceil(domain);
    let Some(nic) = &n.nic else {
        return Err(CollectiveError::NoNetwork {
            system: sys.name.clone(),
            ranks,
            nodes,
            per_node: domain,
        });
    };
    let nics = n.gpus.first().map_or(1, |g| g.nics.len().max(1)) as u64;
    let inter = Hop {
        bandwidth: nic.bandwidth.achievable.saturating_mul(nics),
        step_floor_ps: 0,
        link_latency_ps: nic.latency_ps,
        spec: nic.collective.as_ref(),
    };
    Ok(Fabric {
        kind: PathKind::Network,
        ranks,
        per_node: domain,
        nodes,
        intra,
        inter: Some(inter),
    })
}

fn link_hop(l: &crate::spec::LinkSpec) -> Hop<'_> {
    Hop {
        bandwidth: l.bandwidth.achievable,
        step_floor_ps: 0,
        link_latency_ps: l.latency_ps,
        spec: l.collective.as_ref(),
    }
}

/// One way to run a collective, and what it costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prediction {
    pub collective: Collective,
    pub algorithm: Algorithm,
    pub protocol: Protocol,
    pub path: PathKind,
    pub bytes: u64,
    pub ranks: u32,
    /// Latency term and bandwidth term, picoseconds; `time_ps` is their sum.
    pub latency_ps: u64,
    pub bandwidth_ps: u64,
    pub time_ps: u64,
}

impl Prediction {
    /// nccl-tests' algorithm bandwidth, bytes/s: size / time.
    pub fn algbw(&self) -> f64 {
        if self.time_ps == 0 {
            return 0.0;
        }
        self.bytes as f64 / (self.time_ps as f64 * 1e-12)
    }

    /// nccl-tests' bus bandwidth, bytes/s: algbw times [`Collective::bus_factor`].
    pub fn busbw(&self) -> f64 {
        let (num, den) = self.collective.bus_factor(self.ranks);
        self.algbw() * num as f64 / den as f64
    }
}

/// `num * bytes / den` seconds at `bw` bytes/s, in picoseconds, rounded up.
fn wire_ps(bytes: u64, num: u64, den: u64, bw: u64) -> u64 {
    let v = (bytes as u128 * num as u128 * 1_000_000_000_000)
        .div_ceil(den.max(1) as u128 * bw.max(1) as u128);
    v.min(u64::MAX as u128) as u64
}

fn log2_ceil(n: u64) -> u64 {
    64 - (n.max(1) - 1).leading_zeros() as u64
}

/// Every way NCCL could run `c` on `ranks` GPUs of `sys`, with its cost, in a fixed
/// order (ring, tree, NVLS, direct; LL, LL128, Simple).
pub fn candidates(
    sys: &SystemSpec,
    c: Collective,
    bytes: u64,
    ranks: u32,
) -> Result<Vec<Prediction>, CollectiveError> {
    candidates_placed(sys, c, bytes, ranks, u32::MAX)
}

/// [`candidates`] for ranks placed at most `per_node` to a node (NVLink domain), as a
/// data-parallel group whose members sit in different nodes is: `per_node = 1` puts
/// every step on the NICs.
pub fn candidates_placed(
    sys: &SystemSpec,
    c: Collective,
    bytes: u64,
    ranks: u32,
    per_node: u32,
) -> Result<Vec<Prediction>, CollectiveError> {
    let f = fabric(sys, ranks, per_node)?;
    let mut out = Vec::new();
    for alg in Algorithm::ALL {
        for p in Protocol::ALL {
            if let Some((latency_ps, bandwidth_ps)) = cost(&f, c, alg, p, bytes) {
                out.push(Prediction {
                    collective: c,
                    algorithm: alg,
                    protocol: p,
                    path: f.kind,
                    bytes,
                    ranks,
                    latency_ps,
                    bandwidth_ps,
                    time_ps: latency_ps.saturating_add(bandwidth_ps),
                });
            }
        }
    }
    Ok(out)
}

/// The fastest way to run `c` (NCCL's choice by its cost model), optionally with the
/// algorithm and protocol forced as `NCCL_ALGO` / `NCCL_PROTO` would.
pub fn predict(
    sys: &SystemSpec,
    c: Collective,
    bytes: u64,
    ranks: u32,
    alg: Option<Algorithm>,
    proto: Option<Protocol>,
) -> Result<Prediction, CollectiveError> {
    let all = candidates(sys, c, bytes, ranks)?;
    fastest(sys, c, ranks, &all, alg, proto)
}

/// [`predict`] for ranks placed at most `per_node` to a node ([`candidates_placed`]),
/// algorithm and protocol as NCCL picks them.
pub fn predict_placed(
    sys: &SystemSpec,
    c: Collective,
    bytes: u64,
    ranks: u32,
    per_node: u32,
) -> Result<Prediction, CollectiveError> {
    let all = candidates_placed(sys, c, bytes, ranks, per_node)?;
    fastest(sys, c, ranks, &all, None, None)
}

/// The fastest of `all` with the algorithm and protocol forced where given, or an
/// error naming what `all` offers.
fn fastest(
    sys: &SystemSpec,
    c: Collective,
    ranks: u32,
    all: &[Prediction],
    alg: Option<Algorithm>,
    proto: Option<Protocol>,
) -> Result<Prediction, CollectiveError> {
    let best = all
        .iter()
        .filter(|p| alg.is_none_or(|a| p.algorithm == a))
        .filter(|p| proto.is_none_or(|q| p.protocol == q))
        .min_by_key(|p| p.time_ps);
    best.copied().ok_or_else(|| {
        let mut names: Vec<String> = all
            .iter()
            .map(|p| format!("{} {}", p.algorithm.label(), p.protocol.label()))
            .collect();
        names.dedup();
        CollectiveError::NotAvailable {
            system: sys.name.clone(),
            coll: c.label(),
            alg: alg.map_or("any algorithm", Algorithm::label),
            proto: proto.map_or("any protocol".into(), |p| p.label().to_string()),
            ranks,
            available: names.join(", "),
        }
    })
}

/// `(latency, bandwidth)` terms of one candidate, `None` where it does not apply.
fn cost(f: &Fabric, c: Collective, alg: Algorithm, p: Protocol, bytes: u64) -> Option<(u64, u64)> {
    if f.ranks <= 1 {
        return (alg == Algorithm::Ring && p == Protocol::Simple).then_some((0, 0));
    }
    match (alg, c) {
        (Algorithm::Ring, Collective::AllToAll | Collective::SendRecv) => None,
        (Algorithm::Ring, _) => ring(f, c, p, bytes),
        (Algorithm::Tree, Collective::AllReduce) => tree(f, p, bytes),
        (Algorithm::Nvls, Collective::AllReduce) => nvls(f, p, bytes),
        (Algorithm::Direct, Collective::AllToAll | Collective::SendRecv) => direct(f, c, p, bytes),
        _ => None,
    }
}

/// The protocol on both hops and the bus bandwidth of the slower.
fn hops(
    f: &Fabric,
    alg: Algorithm,
    p: Protocol,
) -> Option<(ProtocolSpec, Option<ProtocolSpec>, u64)> {
    let pi = f.intra.protocol(alg, p)?;
    let mut bus = f.intra.bus_bandwidth(&pi);
    let pn = match &f.inter {
        Some(h) => {
            let pn = h.protocol(alg, p)?;
            bus = bus.min(h.bus_bandwidth(&pn));
            Some(pn)
        }
        None => None,
    };
    Some((pi, pn, bus))
}

/// Ring: `steps` hops, `2(n-1)` for all-reduce and `n-1` otherwise, the inter-node
/// ones at the network's step latency (NCCL's ring model, docs/collectives.md §2).
fn ring(f: &Fabric, c: Collective, p: Protocol, bytes: u64) -> Option<(u64, u64)> {
    let (pi, pn, bus) = hops(f, Algorithm::Ring, p)?;
    let n = f.ranks as u64;
    let nodes = f.nodes as u64;
    let (steps, inter_steps, num, den) = match c {
        Collective::AllReduce => (2 * (n - 1), 2 * (nodes - 1), 2 * (n - 1), n),
        Collective::AllGather | Collective::ReduceScatter => (n - 1, nodes - 1, n - 1, n),
        _ => (n - 1, nodes - 1, 1, 1),
    };
    let base = pn.map_or(pi.base_latency_ps, |q| q.base_latency_ps);
    let inter_lat = pn.map_or(0, |q| q.step_latency_ps);
    let lat = base
        + (steps - inter_steps).saturating_mul(pi.step_latency_ps)
        + inter_steps.saturating_mul(inter_lat);
    Some((lat, wire_ps(bytes, num, den, bus)))
}

/// Tree all-reduce: up and down a chain inside each node and a binary tree across
/// nodes; every byte goes up and comes down (NCCL's tree model).
fn tree(f: &Fabric, p: Protocol, bytes: u64) -> Option<(u64, u64)> {
    let (pi, pn, bus) = hops(f, Algorithm::Tree, p)?;
    let base = pn.map_or(pi.base_latency_ps, |q| q.base_latency_ps);
    let inter = pn.map_or(0, |q| log2_ceil(f.nodes as u64) * q.step_latency_ps);
    let lat = base + 2 * ((f.per_node as u64 - 1) * pi.step_latency_ps + inter);
    Some((lat, wire_ps(bytes, 2, 1, bus)))
}

/// NVLink SHARP all-reduce inside one NVLink domain: a fixed latency, the bytes at the
/// NVLS bandwidth, and one chunk overhead per round of channels x ranks chunks, the
/// chunk shrinking for smaller messages as NCCL's `enqueue.cc` shrinks it.
fn nvls(f: &Fabric, p: Protocol, bytes: u64) -> Option<(u64, u64)> {
    let s = f.intra.spec?.nvls.as_ref()?;
    if p != Protocol::Simple || f.inter.is_some() || f.kind != PathKind::Nvlink {
        return None;
    }
    if f.ranks < s.min_ranks {
        return None;
    }
    let per_round = nvls_round_bytes(s, f.ranks, bytes);
    let overhead = (bytes as u128 * s.chunk_overhead_ps as u128).div_ceil(per_round as u128);
    let wire = wire_ps(bytes, 1, 1, s.bandwidth) as u128 + overhead;
    Some((s.latency_ps, wire.min(u64::MAX as u128) as u64))
}

/// Bytes one round of NVLS chunks moves for a `bytes` all-reduce on `ranks` ranks:
/// channels x ranks chunks, the chunk shrunk for smaller messages by the schedule (a
/// step applies when `bytes` is below rounds x channels x ranks x the chunk so far).
pub fn nvls_round_bytes(s: &NvlsSpec, ranks: u32, bytes: u64) -> u64 {
    let ops = s.channels.saturating_mul(ranks as u64);
    let mut chunk = s.max_chunk;
    for &(rounds, smaller) in &s.chunk_schedule {
        let limit = (rounds as u128) * (ops as u128) * (chunk as u128);
        if (bytes as u128) < limit && chunk > smaller {
            chunk = smaller;
        }
    }
    ops.saturating_mul(chunk).max(1)
}

/// All-to-all and send/recv as point-to-point copies: one step of latency; an
/// all-to-all sends `(n-1)/n` of its buffer, the part bound for other nodes over the
/// NIC and the rest inside the node, both at once.
fn direct(f: &Fabric, c: Collective, p: Protocol, bytes: u64) -> Option<(u64, u64)> {
    let pi = f.intra.protocol(Algorithm::Direct, p)?;
    let n = f.ranks as u64;
    let (mut lat, intra_bw) = (
        pi.base_latency_ps + pi.step_latency_ps,
        f.intra.bus_bandwidth(&pi),
    );
    let wire = match (c, &f.inter) {
        (Collective::SendRecv, None) => wire_ps(bytes, 1, 1, intra_bw),
        (Collective::SendRecv, Some(h)) => {
            let pn = h.protocol(Algorithm::Direct, p)?;
            lat = pn.base_latency_ps + pn.step_latency_ps;
            wire_ps(bytes, 1, 1, h.bus_bandwidth(&pn))
        }
        (_, None) => wire_ps(bytes, n - 1, n, intra_bw),
        (_, Some(h)) => {
            let pn = h.protocol(Algorithm::Direct, p)?;
            let local = f.per_node as u64;
            lat = lat.max(pn.base_latency_ps + pn.step_latency_ps);
            let in_node = wire_ps(bytes, local - 1, n, intra_bw);
            let off_node = wire_ps(bytes, n - local, n, h.bus_bandwidth(&pn));
            in_node.max(off_node)
        }
    };
    Some((lat, wire))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_factors_follow_nccl_tests() {
        assert_eq!(Collective::AllReduce.bus_factor(8), (14, 8));
        assert_eq!(Collective::AllGather.bus_factor(8), (7, 8));
        assert_eq!(Collective::AllToAll.bus_factor(4), (3, 4));
        assert_eq!(Collective::SendRecv.bus_factor(2), (1, 1));
    }
}
