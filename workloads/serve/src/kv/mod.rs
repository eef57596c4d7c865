//! KV-cache tiers and prefix caching (docs/kv-tiers.md).
//!
//! `[kv_cache]` turns on prefix caching by chained block hash (vLLM V1) or the radix
//! cache (SGLang), as the engine profile's `kv.prefix_cache` says, over HBM, pinned host
//! DRAM and local NVMe: a hit skips the prefill of its tokens, a hit below HBM costs a
//! reload instead. Offloads, reloads and prefetches are flows over the node's PCIe, C2C,
//! DRAM and drive resources, beside Engram fetches, so each tenant's bytes per resource
//! and its hidden and exposed time come out of the same run ([`TenantStats`]).
//! `[prompts]` gives requests something to share: N system prompts of L tokens and
//! conversations of several turns.

mod cache;
mod content;
mod ops;
mod report;
mod run;

use serde::Deserialize;
use toml::Spanned;

pub use cache::{Hits, Moves, PrefixCache, Tier};
pub use content::Prompts;
pub(crate) use report::{rates, resource_bytes};
pub use report::{stats_json, tenant_of, KvStats, TenantStats};
pub(crate) use run::{KvRun, Layout, StepAt};

/// Which prefix cache an engine keeps (the engine profile's `kv.prefix_cache`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum PrefixCacheKind {
    /// vLLM V1: full blocks named by `hash(parent hash, block tokens)`.
    BlockHash,
    /// SGLang: a radix tree over token ids, matched token by token (here in granules of
    /// `block_tokens`, 16 by default), leaves evicted first.
    Radix,
}

/// The order free cached blocks are evicted in.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Eviction {
    /// Least recently used block first, heads of chains included.
    Lru,
    /// Least recently used first, a chain's tail before its head (vLLM frees a
    /// request's blocks tail first; SGLang evicts radix leaves).
    PrefixAware,
}

/// When a block computed in HBM reaches host DRAM.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum WritePolicy {
    /// When it is evicted from HBM.
    WriteBack,
    /// As soon as it is computed (eviction from HBM is then free).
    WriteThrough,
}

/// `[kv_cache]`: prefix caching and the tiers below HBM.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KvCacheSpec {
    /// Tokens per cached block; default the engine's block size (at least 16; 16
    /// without an engine profile).
    pub block_tokens: Option<u32>,
    /// Default prefix-aware.
    pub eviction: Option<Eviction>,
    #[serde(default = "write_back")]
    pub write: WritePolicy,
    /// Pinned host DRAM for KV per node (split evenly over the replicas, each on its
    /// GPU's socket); absent: no host tier.
    pub host_dram: Option<Spanned<String>>,
    /// Local NVMe for KV per node (striped over the node's drives); absent: none.
    pub nvme: Option<Spanned<String>>,
    /// Reload the cached prefix of the next waiting requests during the step before
    /// they are admitted (SGLang HiCache's prefetch); false: reload at admission, on the
    /// critical path.
    #[serde(default = "yes")]
    pub prefetch: bool,
    /// How many arrived waiting requests per replica are prefetched each step.
    #[serde(default = "default_depth")]
    pub prefetch_requests: usize,
}

/// `[prompts]`: what requests share.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PromptsSpec {
    /// N distinct system prompts, each request drawing one (seeded) per conversation.
    pub system_prompts: u64,
    /// Their length L: a prompt's first L tokens are its system prompt.
    pub system_prompt_tokens: u32,
    /// Requests per conversation: each turn's prompt continues the conversation so far.
    pub turns: u64,
    /// Conversations open at once per replica, taking turns round-robin (the distance
    /// between a conversation's turns, in requests).
    pub conversations: u64,
}

impl Default for PromptsSpec {
    fn default() -> Self {
        PromptsSpec {
            system_prompts: 0,
            system_prompt_tokens: 0,
            turns: 1,
            conversations: 1,
        }
    }
}

fn write_back() -> WritePolicy {
    WritePolicy::WriteBack
}
fn yes() -> bool {
    true
}
fn default_depth() -> usize {
    8
}

/// Most blocks a tier may hold per replica (each costs the cache ~100 bytes of memory).
pub const MAX_TIER_BLOCKS: u64 = 1 << 22;
