//! The KV-cache side of a serving run: per replica a [`PrefixCache`], the block chains
//! of its running requests, and the traffic each step owes ([`KvRun`]). The step loop
//! calls it at four points: after planning (lookups rewrite newly admitted prefills to
//! skip their hits; prefetches of waiting requests), while building a replica's step
//! (its traffic as ops), before completing a step (blocks computed), and after (blocks
//! released, tiers trimmed to capacity).

use std::collections::{BTreeMap, BTreeSet};

use memwall_models::node::NodeModel;
use memwall_models::units::parse_bytes;
use memwall_sim::{Executor, OpId, Ps, StreamId};

use super::cache::{Hits, Moves, PrefixCache};
use super::content::Prompts;
use super::ops::{At, KvOps};
use super::report::KvStats;
use super::{Eviction, KvCacheSpec, PrefixCacheKind, PromptsSpec, WritePolicy, MAX_TIER_BLOCKS};
use crate::batcher::{Batcher, StepPlan};
use crate::error::{invalid, ScenarioError};
use crate::scenario::Scenario;

/// What one replica's step owes: reloads on its critical path, prefetches and
/// write-downs beside it.
#[derive(Debug, Clone, Copy, Default)]
struct Pending {
    reload: Hits,
    prefetch: Hits,
    moves: Moves,
}

pub(crate) struct KvRun {
    prompts: Prompts,
    replicas: u64,
    /// Tokens per cached block.
    unit: u32,
    prefetch: Option<usize>,
    caches: Vec<PrefixCache>,
    /// Per replica: waiting requests already prefetched (once each).
    prefetched: Vec<BTreeSet<u64>>,
    /// Per replica: request id -> the chain of blocks it holds.
    chains: Vec<BTreeMap<u64, Vec<u64>>>,
    pending: Vec<Pending>,
    pub(crate) ops: KvOps,
    pub(crate) stats: KvStats,
}

/// Where a replica's step stands: its compute stream, the previous step's barrier,
/// the step number.
pub(crate) struct StepAt {
    pub compute: StreamId,
    pub prev: Option<OpId>,
    pub step: u32,
}

/// How the run is laid out: replicas and their GPUs, bytes of KV per token per GPU.
pub(crate) struct Layout<'a> {
    pub groups: Vec<Vec<usize>>,
    pub kv_bytes_per_token: u64,
    pub engine_block: Option<u64>,
    pub prefix_cache: PrefixCacheKind,
    pub node: &'a NodeModel,
}

impl KvRun {
    pub fn new(
        s: &Scenario,
        spec: &KvCacheSpec,
        prompts: Option<&PromptsSpec>,
        ex: &mut Executor,
        lay: Layout,
    ) -> Result<KvRun, ScenarioError> {
        let replicas = lay.groups.len() as u64;
        let tp = lay.groups.first().map_or(1, |g| g.len()) as u64;
        let unit = spec
            .block_tokens
            .unwrap_or_else(|| lay.engine_block.unwrap_or(16).max(16) as u32)
            .max(1);
        let unit_bytes = unit as u64 * lay.kv_bytes_per_token;
        let blocks = |field: &str,
                      v: &Option<toml::Spanned<String>>|
         -> Result<u64, ScenarioError> {
            let Some(v) = v else { return Ok(0) };
            let bytes = s.quantity(field, v, parse_bytes)?;
            let n = bytes / replicas.max(1) / (unit_bytes * tp).max(1);
            if n > MAX_TIER_BLOCKS {
                return Err(invalid(
                    &s.origin,
                    format!(
                        "[kv_cache] {field} = {} is {n} blocks per replica, over the {MAX_TIER_BLOCKS} \
                         the simulation tracks\nhint: raise block_tokens (LMCache uses 256-token chunks)",
                        v.get_ref()
                    ),
                ));
            }
            Ok(n)
        };
        let host = blocks("kv_cache.host_dram", &spec.host_dram)?;
        let nvme = blocks("kv_cache.nvme", &spec.nvme)?;
        check_fits(s, spec, lay.node, host * unit_bytes * tp * replicas)?;
        if nvme > 0 && lay.node.drive_server.is_empty() {
            return Err(invalid(
                &s.origin,
                format!("[kv_cache] nvme is set but {} has no drives\nhint: drop nvme, or pick a system with drives", s.system),
            ));
        }
        let eviction = spec.eviction.unwrap_or(Eviction::PrefixAware);
        let wt = spec.write == WritePolicy::WriteThrough;
        let p = prompts.cloned().unwrap_or_default();
        let ops = KvOps::new(ex, lay.groups, unit_bytes);
        Ok(KvRun {
            prompts: Prompts {
                system_prompts: p.system_prompts,
                system_prompt_tokens: p.system_prompt_tokens,
                turns: p.turns.max(1),
                conversations: p.conversations.max(1),
                seed: s.seed,
            },
            replicas,
            unit,
            prefetch: spec.prefetch.then_some(spec.prefetch_requests),
            caches: (0..replicas)
                .map(|_| PrefixCache::new(host, nvme, wt, eviction == Eviction::PrefixAware))
                .collect(),
            prefetched: vec![BTreeSet::new(); replicas as usize],
            chains: vec![BTreeMap::new(); replicas as usize],
            pending: vec![Pending::default(); replicas as usize],
            ops,
            stats: KvStats::new(lay.prefix_cache, unit, unit_bytes * tp, host, nvme),
        })
    }

    /// After planning: every newly admitted prefill looks up its prompt's cached prefix
    /// and skips it (at least one token is computed, to sample); then the next waiting
    /// requests' cached prefixes are prefetched into HBM.
    pub fn plan(&mut self, now: Ps, batchers: &[Batcher], plans: &mut [StepPlan]) {
        for (gi, (b, p)) in batchers.iter().zip(plans.iter_mut()).enumerate() {
            for w in p.work.iter_mut().filter(|w| !w.decode && w.ctx == 0) {
                let sq = &b.seqs[w.seq];
                let target = sq.prefill_target;
                self.prefetched[gi].remove(&sq.id);
                if let Some(old) = self.chains[gi].remove(&sq.id) {
                    self.caches[gi].release(&old);
                }
                let mut chain = Vec::new();
                self.prompts
                    .extend_chain(sq.id, self.replicas, self.unit, target - 1, &mut chain);
                let hits = self.caches[gi].lookup(&chain);
                chain.truncate(hits.total() as usize);
                self.chains[gi].insert(sq.id, chain);
                let hit = (hits.total() * self.unit as u64) as u32;
                self.stats.looked_up(target, hits, self.unit);
                self.pending[gi].reload.host += hits.host;
                self.pending[gi].reload.nvme += hits.nvme;
                w.ctx = hit;
                w.new = w.new.min(target - hit);
                w.samples = w.ctx + w.new == target;
            }
            let Some(depth) = self.prefetch else {
                continue;
            };
            let fresh = |s: &&crate::batcher::Seq| s.arrival <= now;
            for sq in b.waiting.iter().filter(fresh).take(depth) {
                if !self.prefetched[gi].insert(sq.id) {
                    continue;
                }
                let mut chain = Vec::new();
                let len = sq.len().saturating_sub(1);
                self.prompts
                    .extend_chain(sq.id, self.replicas, self.unit, len, &mut chain);
                let h = self.caches[gi].prefetch(&chain);
                self.stats.prefetched(h);
                self.pending[gi].prefetch.host += h.host;
                self.pending[gi].prefetch.nvme += h.nvme;
            }
        }
    }

    /// Replica `gi`'s KV traffic for this step: reloads before its first kernel (a
    /// wait on `compute` after them, which becomes `last`), prefetches and write-downs
    /// beside the step (the step's barrier waits for them, in `lasts`).
    pub fn issue(
        &mut self,
        ex: &mut Executor,
        node: &NodeModel,
        gi: usize,
        at: StepAt,
        last: &mut Option<OpId>,
        lasts: &mut Vec<OpId>,
    ) -> Result<(), ScenarioError> {
        let StepAt {
            compute,
            prev,
            step,
        } = at;
        let p = std::mem::take(&mut self.pending[gi]);
        let at = || At {
            after: prev.into_iter().collect(),
            step,
        };
        let (reload, prefetch) = (self.ops.reload, self.ops.prefetch);
        if let Some(op) = self.ops.reload(ex, node, gi, reload, p.reload, at())? {
            let deps: Vec<OpId> = last.or(prev).into_iter().chain([op]).collect();
            *last = Some(self.ops.wait(ex, compute, deps, step)?);
        }
        lasts.extend(self.ops.reload(ex, node, gi, prefetch, p.prefetch, at())?);
        lasts.extend(self.ops.offload(ex, node, gi, p.moves, at())?);
        self.stats.moved(p.reload, p.moves);
        Ok(())
    }

    /// Before a step completes: the blocks each request filled this step are cached.
    pub fn computed(&mut self, batchers: &[Batcher], plans: &[StepPlan]) {
        for (gi, (b, p)) in batchers.iter().zip(plans).enumerate() {
            for w in &p.work {
                let id = b.seqs[w.seq].id;
                let chain = self.chains[gi].entry(id).or_default();
                let old = chain.len();
                self.prompts
                    .extend_chain(id, self.replicas, self.unit, w.ctx + w.new, chain);
                self.caches[gi].insert(&chain[old..]);
            }
        }
    }

    /// The run's figures, every tenant's included.
    pub fn finish(
        mut self,
        ex: &Executor,
        makespan: Ps,
        by_cat: &[(String, memwall_sim::attribution::CategoryTotals)],
    ) -> KvStats {
        self.stats.finish(ex, makespan, by_cat);
        self.stats
    }

    /// After a step: finished and preempted requests release their blocks, and each
    /// tier is trimmed (HBM to its free blocks); the write-downs go out next step.
    pub fn settle(&mut self, batchers: &[Batcher]) {
        for (gi, b) in batchers.iter().enumerate() {
            let live: BTreeSet<u64> = b.running_ids().collect();
            let gone: Vec<u64> = self.chains[gi]
                .keys()
                .filter(|id| !live.contains(id))
                .copied()
                .collect();
            for id in gone {
                let chain = self.chains[gi].remove(&id).unwrap_or_default();
                self.caches[gi].release(&chain);
            }
            let free = b.kv_capacity_tokens().saturating_sub(b.kv_used()) / self.unit as u64;
            let c = &mut self.caches[gi];
            c.trim(free);
            let m = c.take_moves();
            self.pending[gi].moves.offload += m.offload;
            self.pending[gi].moves.to_nvme += m.to_nvme;
        }
    }
}

/// The host tier must fit in the node's DRAM.
fn check_fits(
    s: &Scenario,
    spec: &KvCacheSpec,
    node: &NodeModel,
    bytes: u64,
) -> Result<(), ScenarioError> {
    let dram: u64 = node
        .spec
        .sockets
        .iter()
        .map(|k| k.dram_capacity_bytes)
        .sum();
    if bytes > dram {
        return Err(invalid(
            &s.origin,
            format!(
                "[kv_cache] host_dram = {} does not fit in {}'s {} GB of host DRAM\nhint: lower host_dram",
                spec.host_dram.as_ref().map_or("", |v| v.get_ref()),
                s.system,
                dram / 1_000_000_000
            ),
        ));
    }
    Ok(())
}
