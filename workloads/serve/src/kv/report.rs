//! What the KV-cache tiers did over a run, and every tenant's share of the node's
//! resources: bytes per resource (from the kernel's per-category counters), the mean
//! bandwidth that makes over the run, and the latency of its transfers split into
//! hidden and exposed.

use memwall_sim::attribution::CategoryTotals;
use memwall_sim::{CategoryId, Executor, OpKind, Ps, ResourceId};

use super::cache::{Hits, Moves};
use super::PrefixCacheKind;

/// The KV-cache tiers over a run (summed over replicas).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KvStats {
    pub prefix_cache: Option<PrefixCacheKind>,
    pub block_tokens: u32,
    /// Bytes of one cached block of a replica (all its GPUs' shards).
    pub block_bytes: u64,
    /// Tier capacities per replica, in blocks.
    pub host_blocks: u64,
    pub nvme_blocks: u64,
    /// Prompt tokens of admitted prefills (looked up), and the tokens found cached, by
    /// the tier they were found in.
    pub lookup_tokens: u64,
    pub hit_tokens: [u64; 3],
    /// Blocks moved: reloaded at admission and prefetched (from host DRAM, from NVMe),
    /// written from HBM to host DRAM, and from host DRAM to NVMe.
    pub reloaded: [u64; 2],
    pub prefetched: [u64; 2],
    pub offloaded: u64,
    pub to_nvme: u64,
    /// Every tenant's use of the node (filled at the end of the run).
    pub tenants: Vec<TenantStats>,
    /// Bytes through each resource with traffic, as the flow network counted them.
    pub resource_bytes: Vec<(String, u128)>,
}

/// One tenant of the memory hierarchy: its transfers' latency split and its bytes per
/// resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TenantStats {
    pub tenant: String,
    pub ops: u64,
    pub latency: Ps,
    pub hidden: Ps,
    pub exposed: Ps,
    /// (resource, bytes, mean bytes per second over the run).
    pub resources: Vec<(String, u128, f64)>,
}

impl KvStats {
    pub(crate) fn new(
        kind: PrefixCacheKind,
        unit: u32,
        block_bytes: u64,
        host: u64,
        nvme: u64,
    ) -> Self {
        KvStats {
            prefix_cache: Some(kind),
            block_tokens: unit,
            block_bytes,
            host_blocks: host,
            nvme_blocks: nvme,
            ..Default::default()
        }
    }

    /// Cached prompt tokens over prompt tokens looked up.
    pub fn hit_rate(&self) -> f64 {
        let hit: u64 = self.hit_tokens.iter().sum();
        if self.lookup_tokens == 0 {
            0.0
        } else {
            hit as f64 / self.lookup_tokens as f64
        }
    }

    pub(crate) fn looked_up(&mut self, target: u32, h: Hits, unit: u32) {
        self.lookup_tokens += target as u64;
        let u = unit as u64;
        self.hit_tokens[0] += h.hbm * u;
        self.hit_tokens[1] += h.host * u;
        self.hit_tokens[2] += h.nvme * u;
    }

    pub(crate) fn prefetched(&mut self, h: Hits) {
        self.prefetched[0] += h.host;
        self.prefetched[1] += h.nvme;
    }

    pub(crate) fn moved(&mut self, reload: Hits, m: Moves) {
        self.reloaded[0] += reload.host;
        self.reloaded[1] += reload.nvme;
        self.offloaded += m.offload;
        self.to_nvme += m.to_nvme;
    }

    /// Every tenant's figures at the end of a run of `makespan`: `by_cat` is the run's
    /// per-category latency split.
    pub(crate) fn finish(
        &mut self,
        ex: &Executor,
        makespan: Ps,
        by_cat: &[(String, CategoryTotals)],
    ) {
        let tl = ex.timeline();
        let net = ex.net();
        let secs = makespan.as_secs_f64();
        let mut tenants: std::collections::BTreeMap<String, TenantStats> = Default::default();
        for (i, c) in tl.categories.iter().enumerate() {
            if !matches!(c.kind, OpKind::Memory | OpKind::Storage) {
                continue;
            }
            let t = tenants.entry(tenant_of(&c.name)).or_default();
            if let Some((_, tot)) = by_cat.iter().find(|(n, _)| *n == c.name) {
                t.ops += tot.ops;
                t.latency += tot.latency;
                t.hidden += tot.hidden;
                t.exposed += tot.exposed;
            }
            for (name, b, _) in resource_bytes(ex, CategoryId(i as u16)) {
                match t.resources.iter_mut().find(|x| x.0 == name) {
                    Some(x) => x.1 += b,
                    None => t.resources.push((name, b, 0.0)),
                }
            }
        }
        for (name, mut t) in tenants {
            t.tenant = name;
            rates(&mut t.resources, secs);
            self.tenants.push(t);
        }
        self.resource_bytes = (0..net.resource_count())
            .map(|r| ResourceId(r as u32))
            .filter(|&r| ex.bytes_through(r) > 0)
            .map(|r| (net.resource_name(r).to_string(), ex.bytes_through(r)))
            .collect();
    }
}

/// Bytes of category `cat` through every resource it crossed, in resource order, as
/// (resource, bytes, 0.0): the rate is filled by `rates`.
pub(crate) fn resource_bytes(ex: &Executor, cat: CategoryId) -> Vec<(String, u128, f64)> {
    let net = ex.net();
    (0..net.resource_count())
        .map(|r| ResourceId(r as u32))
        .filter_map(|r| {
            let b = ex.category_bytes(cat, r);
            (b > 0).then(|| (net.resource_name(r).to_string(), b, 0.0))
        })
        .collect()
}

/// Mean bytes per second over `secs` for each (resource, bytes, rate).
pub(crate) fn rates(r: &mut [(String, u128, f64)], secs: f64) {
    for x in r.iter_mut() {
        x.2 = if secs > 0.0 { x.1 as f64 / secs } else { 0.0 };
    }
}

/// The tenant a category belongs to: `kv-*` is the KV cache, `engram-*` the Engram
/// tables; anything else is its own tenant.
pub fn tenant_of(category: &str) -> String {
    // The KV shipped from prefill to decode GPUs is its own tenant (crate::disagg).
    if category == "kv-transfer" {
        return category.into();
    }
    for (prefix, tenant) in [("kv-", "kv-cache"), ("engram-", "engram")] {
        if category.starts_with(prefix) {
            return tenant.into();
        }
    }
    category.to_string()
}

/// `summary.json`'s `kv_cache` object: hit rate, traffic, and per tenant the latency
/// split and the bytes and mean bandwidth per resource.
pub fn stats_json(k: &KvStats) -> serde_json::Value {
    let ms = |p: Ps| p.as_secs_f64() * 1e3;
    let tenants: serde_json::Map<String, serde_json::Value> = k
        .tenants
        .iter()
        .map(|t| {
            let res: serde_json::Map<String, serde_json::Value> = t
                .resources
                .iter()
                .map(|(r, b, bw)| {
                    let v = serde_json::json!({ "bytes": *b as f64, "gb_per_s": bw / 1e9 });
                    (r.clone(), v)
                })
                .collect();
            let v = serde_json::json!({
                "transfers": t.ops,
                "latency_ms": ms(t.latency),
                "hidden_ms": ms(t.hidden),
                "exposed_ms": ms(t.exposed),
                "resources": res,
            });
            (t.tenant.clone(), v)
        })
        .collect();
    serde_json::json!({
        "prefix_cache": k.prefix_cache.map(|p| match p {
            PrefixCacheKind::BlockHash => "block-hash",
            PrefixCacheKind::Radix => "radix",
        }),
        "block_tokens": k.block_tokens,
        "block_bytes": k.block_bytes,
        "host_dram_blocks_per_replica": k.host_blocks,
        "nvme_blocks_per_replica": k.nvme_blocks,
        "lookup_tokens": k.lookup_tokens,
        "hit_rate": k.hit_rate(),
        "hit_tokens": { "hbm": k.hit_tokens[0], "host_dram": k.hit_tokens[1], "nvme": k.hit_tokens[2] },
        "reloaded_blocks": { "host_dram": k.reloaded[0], "nvme": k.reloaded[1] },
        "prefetched_blocks": { "host_dram": k.prefetched[0], "nvme": k.prefetched[1] },
        "offloaded_blocks": k.offloaded,
        "nvme_written_blocks": k.to_nvme,
        "tenants": tenants,
    })
}
