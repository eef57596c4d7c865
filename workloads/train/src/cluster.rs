//! Whole-cluster expert all-to-all: every GPU its own rank, every token routed (seeded),
//! the dispatch and combine of one MoE layer as per-GPU-pair flows over the cluster's
//! wired fabric ([`memwall_models::fabric`]), next to the aggregate model that
//! [`crate::run_step`] uses for the same traffic.
//!
//! Routing follows DeepSeek-V3 and DeepEP (V3 report §3.2.2, ISCA'25 §4.3, as in
//! [`crate::a2a`]): a token picks `node_limit` of its EP group's NVLink domains, then its
//! `k` experts among those domains' experts (uniform affinities, experts sharded evenly
//! over the group's GPUs). It crosses the scale-out fabric once per remote domain it
//! reaches, to the GPU at the sender's own position there (same plane of a multi-plane
//! fabric), which forwards it over NVLink to each target GPU of that domain; targets in
//! the sender's own domain get it over NVLink directly. So the flows of one phase are one
//! per (sender, relay) pair over the fabric and one per (forwarder, target) pair over
//! NVLink, each carrying its pair's tokens. The combine sends the same pairs back.

use memwall_models::fabric::{ClusterFabric, PhaseResult, Transfer};
use memwall_sim::Ps;
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::a2a::{bf16_token_bytes, fp8_token_bytes, A2aBytes, EpGeometry};
use crate::{TrainConfig, TrainError, TrainHw};

/// Where an EP group's domains sit in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Consecutive domains (an EP64 group of 8-GPU nodes under one leaf).
    Packed,
    /// Domain `j` of group `g` is domain `j * groups + g`: a group spans the cluster, its
    /// fabric traffic crosses the spines.
    Spread,
}

/// One EP all-to-all layer to run: the group, the routing and the message sizes.
#[derive(Clone, Debug, PartialEq)]
pub struct EpSetup {
    pub ep: u32,
    /// Tokens each GPU routes.
    pub tokens: u64,
    pub experts: u32,
    pub k: u32,
    /// Domains a token may reach (0 = all of its group's).
    pub node_limit: u32,
    /// Bytes of one token in the dispatch (FP8 plus scales) and the combine (BF16).
    pub dispatch_token_bytes: u64,
    pub combine_token_bytes: u64,
    pub seed: u64,
    pub placement: Placement,
}

impl EpSetup {
    /// From a training config and its model: EP degree, micro-batch tokens per GPU,
    /// routed experts, top-k, node limit, V3's FP8 dispatch and BF16 combine.
    pub fn from_config(
        cfg: &TrainConfig,
        m: &memwall_llm::ModelConfig,
    ) -> Result<EpSetup, TrainError> {
        let moe = m.mlp.moe.as_ref().ok_or_else(|| {
            TrainError::Config(format!(
                "model `{}` has no MoE layer: nothing to dispatch",
                m.name
            ))
        })?;
        Ok(EpSetup {
            ep: cfg.ep,
            tokens: cfg.micro_batch_tokens,
            experts: moe.num_routed_experts as u32,
            k: moe.experts_per_token as u32,
            node_limit: cfg.node_limit,
            dispatch_token_bytes: fp8_token_bytes(m.hidden_size),
            combine_token_bytes: bf16_token_bytes(m.hidden_size),
            seed: 0,
            placement: Placement::Packed,
        })
    }
}

/// Groups laid over the cluster's NVLink domains.
#[derive(Clone, Copy, Debug)]
struct Layout {
    /// GPUs per NVLink domain, domains per group, and groups.
    domain: usize,
    per_group: usize,
    groups: usize,
    placement: Placement,
}

impl Layout {
    fn new(f: &ClusterFabric, s: &EpSetup) -> Result<Layout, TrainError> {
        let domain = f.gpus_per_node * f.nodes_per_domain;
        let ep = s.ep as usize;
        let bad = |why: String| Err(TrainError::Config(format!("ep = {}: {why}", s.ep)));
        if ep == 0 || !(s.experts as usize).is_multiple_of(ep) {
            return bad(format!("must divide the {} routed experts", s.experts));
        }
        let (domain, per_group) = if ep <= domain && domain.is_multiple_of(ep) {
            (ep, 1)
        } else if ep.is_multiple_of(domain) {
            (domain, ep / domain)
        } else {
            return bad(format!(
                "must divide or be a multiple of the {domain}-GPU NVLink domain"
            ));
        };
        let domains = f.gpu_count() / domain;
        if domains < per_group {
            return bad(format!(
                "needs {per_group} domains; the cluster has {domains}"
            ));
        }
        Ok(Layout {
            domain,
            per_group,
            groups: domains / per_group,
            placement: s.placement,
        })
    }

    /// First GPU of domain `j` of group `g`.
    fn base(&self, g: usize, j: usize) -> usize {
        let d = match self.placement {
            Placement::Packed => g * self.per_group + j,
            Placement::Spread => j * self.groups + g,
        };
        d * self.domain
    }
}

/// Token counts of one all-to-all, per pair: over the fabric (sender to relay) and over
/// NVLink (forwarder to target), as `(from, to, tokens)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EpTraffic {
    pub fabric: Vec<(u32, u32, u64)>,
    pub nvlink: Vec<(u32, u32, u64)>,
}

/// Per-group counters: fabric `[gpu][domain]`, NVLink `[gpu][target position]`.
struct Counts {
    fabric: Vec<u64>,
    nvlink: Vec<u64>,
}

/// Uniform draws below small bounds from a seeded ChaCha8 stream, 64 bits at a time: a
/// draw below `n` takes the fewest bits that cover `n - 1` and rejects values of `n` or
/// more (unbiased), so a token's dozen draws cost about two words, not a dozen.
struct Bits {
    rng: ChaCha8Rng,
    word: u64,
    left: u32,
}

impl Bits {
    fn new(seed: u64) -> Bits {
        Bits {
            rng: ChaCha8Rng::seed_from_u64(seed),
            word: 0,
            left: 0,
        }
    }

    /// A uniform value in `0..n` (0 when `n <= 1`).
    fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let bits = usize::BITS - (n - 1).leading_zeros();
        let mask = u64::MAX >> (64 - bits);
        loop {
            if self.left < bits {
                self.word = self.rng.next_u64();
                self.left = 64;
            }
            let v = (self.word & mask) as usize;
            self.word = self.word.checked_shr(bits).unwrap_or(0);
            self.left -= bits;
            if v < n {
                return v;
            }
        }
    }
}

/// Buffers reused from token to token: the group's domains (the first `node_limit` are
/// the token's, after a partial shuffle); per expert of the token's pool its domain slot
/// and GPU position (no division per draw); per expert, domain and target GPU the last
/// token that drew or reached it (so each counts once per token).
struct Scratch {
    limit: usize,
    doms: Vec<usize>,
    pool: Vec<(usize, usize)>,
    expert_seen: Vec<u64>,
    experts: Vec<usize>,
    dom_seen: Vec<u64>,
    gpu_seen: Vec<u64>,
    token: u64,
}

impl Scratch {
    fn new(l: &Layout, s: &EpSetup) -> Scratch {
        let m = l.per_group;
        let limit = if s.node_limit == 0 {
            m
        } else {
            (s.node_limit as usize).min(m)
        };
        let per_gpu = s.experts as usize / (m * l.domain);
        let span = l.domain * per_gpu;
        Scratch {
            limit,
            doms: (0..m).collect(),
            pool: (0..limit * span)
                .map(|e| (e / span, (e % span) / per_gpu))
                .collect(),
            expert_seen: vec![0; limit * span],
            experts: Vec::with_capacity(s.k as usize),
            dom_seen: vec![0; m],
            gpu_seen: vec![0; m * l.domain],
            token: 0,
        }
    }
}

/// Routes one token of the GPU at (`j`, `pos`) of its group: `node_limit` domains by a
/// partial shuffle (uniform whatever order the previous token left), `k` distinct experts
/// among theirs; adds to `c`.
fn route_token(
    bits: &mut Bits,
    l: &Layout,
    s: &EpSetup,
    (j, pos): (usize, usize),
    c: &mut Counts,
    x: &mut Scratch,
) {
    let m = l.per_group;
    for i in 0..x.limit {
        let r = i + bits.below(m - i);
        x.doms.swap(i, r);
    }
    let pool = x.pool.len();
    let k = (s.k as usize).min(pool);
    x.token += 1;
    x.experts.clear();
    while x.experts.len() < k {
        let e = bits.below(pool);
        if x.expert_seen[e] != x.token {
            x.expert_seen[e] = x.token;
            x.experts.push(e);
        }
    }
    let src = j * l.domain + pos;
    for &e in &x.experts {
        let (slot, t) = x.pool[e];
        let d = x.doms[slot];
        // One fabric copy per remote domain reached, to the relay at the sender's
        // position; one NVLink copy per target GPU other than the forwarder.
        if d != j && x.dom_seen[d] != x.token {
            x.dom_seen[d] = x.token;
            c.fabric[src * m + d] += 1;
        }
        if t != pos && x.gpu_seen[d * l.domain + t] != x.token {
            x.gpu_seen[d * l.domain + t] = x.token;
            c.nvlink[(d * l.domain + pos) * l.domain + t] += 1;
        }
    }
}

/// Routes every token of every GPU; the same `seed` gives the same traffic.
pub fn route_tokens(f: &ClusterFabric, s: &EpSetup) -> Result<EpTraffic, TrainError> {
    let l = Layout::new(f, s)?;
    let mut bits = Bits::new(s.seed);
    let mut out = EpTraffic::default();
    let mut scratch = Scratch::new(&l, s);
    for g in 0..l.groups {
        route_group(&l, s, g, &mut bits, &mut scratch, &mut out);
    }
    Ok(out)
}

/// Routes every token of group `g`'s GPUs, appending its pairs to `out`.
fn route_group(
    l: &Layout,
    s: &EpSetup,
    g: usize,
    bits: &mut Bits,
    scratch: &mut Scratch,
    out: &mut EpTraffic,
) {
    let n = l.per_group * l.domain;
    let mut c = Counts {
        fabric: vec![0; n * l.per_group],
        nvlink: vec![0; n * l.domain],
    };
    for j in 0..l.per_group {
        for pos in 0..l.domain {
            for _ in 0..s.tokens {
                route_token(bits, l, s, (j, pos), &mut c, scratch);
            }
        }
    }
    let gpu = |i: usize| (l.base(g, i / l.domain) + i % l.domain) as u32;
    for (i, &t) in c.fabric.iter().enumerate().filter(|(_, &t)| t > 0) {
        let (src, d) = (i / l.per_group, i % l.per_group);
        out.fabric
            .push((gpu(src), gpu(d * l.domain + src % l.domain), t));
    }
    for (i, &t) in c.nvlink.iter().enumerate().filter(|(_, &t)| t > 0) {
        let (from, to) = (i / l.domain, i % l.domain);
        out.nvlink
            .push((gpu(from), gpu(from - from % l.domain + to), t));
    }
}

/// The phase's transfers: `traffic` forward (dispatch) or reversed (combine).
fn transfers(
    f: &ClusterFabric,
    t: &EpTraffic,
    token_bytes: u64,
    reverse: bool,
) -> Result<Vec<Transfer>, TrainError> {
    let pair = |a: u32, b: u32| {
        if reverse {
            (b as usize, a as usize)
        } else {
            (a as usize, b as usize)
        }
    };
    let mut out = Vec::with_capacity(t.fabric.len() + t.nvlink.len());
    for &(a, b, n) in &t.fabric {
        let (src, dst) = pair(a, b);
        out.push(Transfer {
            route: f.rdma_route(src, dst)?,
            bytes: n * token_bytes,
        });
    }
    for &(a, b, n) in &t.nvlink {
        let (src, dst) = pair(a, b);
        out.push(Transfer {
            route: f.nvlink_route(src, dst)?,
            bytes: n * token_bytes,
        });
    }
    Ok(out)
}

/// The aggregate model's time for one GPU's all-to-all run alone: what
/// [`crate::run_step`]'s all-to-all op takes when nothing else contends, the fabric part
/// at the NIC's achievable rate and the NVLink part at the scale-up link's, both times
/// `efficiency`, concurrently, after the scale-out latency.
pub fn aggregate_time(b: A2aBytes, hw: &TrainHw, efficiency: f64) -> Ps {
    let wire = |bytes: u64, bw: u64| {
        let bw = ((bw as f64 * efficiency).round() as u128).max(1);
        (bytes as u128 * 1_000_000_000_000).div_ceil(bw) as u64
    };
    let latency = if b.scale_out > 0 {
        hw.scale_out_latency_ps
    } else {
        hw.scale_up_latency_ps()
    };
    let out = wire(b.scale_out, hw.nic_bandwidth());
    let up = if b.scale_up > 0 {
        wire(b.scale_up, hw.scale_up_bandwidth())
    } else {
        0
    };
    Ps(latency + out.max(up))
}

/// One phase in both models.
#[derive(Clone, Debug, PartialEq)]
pub struct PhaseCompare {
    pub cluster: PhaseResult,
    pub aggregate: Ps,
    /// Per-GPU bytes the aggregate model moves (expected, from [`EpGeometry`]).
    pub expected: A2aBytes,
    /// The most fabric bytes any one GPU sent in the routed traffic.
    pub max_fabric_bytes: u64,
}

/// Dispatch then combine of one MoE layer on every GPU.
#[derive(Clone, Debug, PartialEq)]
pub struct EpReport {
    pub groups: usize,
    pub gpus: usize,
    pub dispatch: PhaseCompare,
    pub combine: PhaseCompare,
}

fn max_sent(t: &EpTraffic, token_bytes: u64, reverse: bool) -> u64 {
    let mut per: std::collections::BTreeMap<u32, u64> = std::collections::BTreeMap::new();
    for &(a, b, n) in &t.fabric {
        *per.entry(if reverse { b } else { a }).or_default() += n * token_bytes;
    }
    per.values().copied().max().unwrap_or(0)
}

/// Routes `s`'s tokens, runs dispatch then combine on `f`, and sets each beside the
/// aggregate model on `hw` with `efficiency` (the fabric's endpoints must have been
/// derated by the same factor, see [`ClusterFabric::build`]).
pub fn run_ep_layer(
    f: &mut ClusterFabric,
    s: &EpSetup,
    hw: &TrainHw,
    efficiency: f64,
) -> Result<EpReport, TrainError> {
    let l = Layout::new(f, s)?;
    let traffic = route_tokens(f, s)?;
    let geom = EpGeometry::new(s.ep, hw.scale_up_domain(), s.node_limit, s.k);
    let mut phase = |bytes: u64, reverse: bool| -> Result<PhaseCompare, TrainError> {
        let t = transfers(f, &traffic, bytes, reverse)?;
        let cluster = f.run_phase(&t)?;
        let expected = geom.bytes(s.tokens, bytes);
        Ok(PhaseCompare {
            cluster,
            aggregate: aggregate_time(expected, hw, efficiency),
            expected,
            max_fabric_bytes: max_sent(&traffic, bytes, reverse),
        })
    };
    let dispatch = phase(s.dispatch_token_bytes, false)?;
    let combine = phase(s.combine_token_bytes, true)?;
    Ok(EpReport {
        groups: l.groups,
        gpus: l.groups * l.per_group * l.domain,
        dispatch,
        combine,
    })
}

pub mod step;

#[cfg(test)]
mod tests;
