//! KV-cache tiers and prefix caching end to end (docs/kv-tiers.md): hits skip prefill,
//! lower-tier hits cost reloads, and with several tenants on the node (Engram fetches
//! and KV traffic) bytes are conserved per resource and every tenant's transfers split
//! into hidden + exposed = latency.

use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_serve::kv::KvStats;
use memwall_serve::{run_scenario_with, RunOptions, RunResult, Scenario};
use proptest::prelude::*;

fn run(text: &str) -> RunResult {
    let s = Scenario::from_toml_str("kv.toml", text).unwrap();
    let reg = Registry::embedded().unwrap();
    let opt = RunOptions { step_rows: false };
    run_scenario_with(&s, &reg, &ModelRegistry::builtin(), opt).unwrap()
}

/// Engram tables in host DRAM, fetched by DMA.
const HOST: &str = "host-dma\"";
/// Engram tables on four NVMe drives (which the KV cache's NVMe tier shares).
const NVME: &str = "nvme\"\ndrives = 4";

/// A small DeepSeek-V4.1-Flash run on the H800 node, Engram tables where `engram` says,
/// with `[kv_cache]` and `[prompts]` as `tail` gives them.
fn scenario(seed: u64, rate: f64, kv_tokens: u64, engram: &str, tail: &str) -> String {
    format!(
        r#"
name = "kv"
seed = {seed}
system = "deepseek-h800-node"
model = "deepseek-v4.1-flash"
compare_without_engram = false
[workload]
kind = "poisson"
rate = {rate}
requests = 48
prompt_tokens = [300, 900]
output_tokens = [4, 24]
[engine]
engine = "vllm-v1"
expert_parallel = 8
replicas = 2
kv_cache_tokens = {kv_tokens}
[engram]
layout = "v41-flash"
placement = "{engram}
{tail}
"#
    )
}

fn kv(r: &RunResult) -> &KvStats {
    r.with_engram.kv.as_ref().expect("kv stats")
}

/// Checks conservation and attribution; returns the KV tenant's bytes over host DRAM.
fn check_tenants(k: &KvStats) -> u128 {
    for (res, total) in &k.resource_bytes {
        let sum: u128 = k
            .tenants
            .iter()
            .flat_map(|t| &t.resources)
            .filter(|x| &x.0 == res)
            .map(|x| x.1)
            .sum();
        assert_eq!(
            sum, *total,
            "{res}: tenants' bytes against the flow network's"
        );
    }
    for t in &k.tenants {
        assert_eq!(t.hidden + t.exposed, t.latency, "{}", t.tenant);
    }
    let kvt = k.tenants.iter().find(|t| t.tenant == "kv-cache").unwrap();
    kvt.resources
        .iter()
        .filter(|x| x.0.ends_with(".dram"))
        .map(|x| x.1)
        .sum()
}

/// Host DRAM bytes the KV tenant's moves imply: a reload or prefetch from host DRAM
/// reads it once, one from NVMe writes it then reads it, an offload writes it once, a
/// write to NVMe reads it once.
fn dram_bytes_of_moves(k: &KvStats) -> u128 {
    let blocks = k.reloaded[0]
        + k.prefetched[0]
        + 2 * (k.reloaded[1] + k.prefetched[1])
        + k.offloaded
        + k.to_nvme;
    blocks as u128 * k.block_bytes as u128
}

/// `[kv_cache]` with nothing shared: no hit, no traffic, and the same requests' TTFTs
/// as the run without it, to the picosecond.
#[test]
fn nothing_shared_changes_nothing() {
    let base = run(&scenario(5, 30.0, 200_000, HOST, ""));
    let with = run(&scenario(5, 30.0, 200_000, HOST, "[kv_cache]\n"));
    let k = kv(&with);
    assert_eq!(k.hit_rate(), 0.0);
    assert!(k.lookup_tokens > 0);
    assert_eq!(with.with_engram.makespan, base.with_engram.makespan);
    let ttft = |r: &RunResult| r.requests.iter().map(|q| q.ttft()).collect::<Vec<_>>();
    assert_eq!(ttft(&with), ttft(&base));
}

/// Shared system prompts hit in HBM: the prompt tokens prefilled fall by exactly the
/// tokens found cached, and TTFT falls with them.
#[test]
fn system_prompt_hits_skip_prefill() {
    let prompts = "[prompts]\nsystem_prompts = 2\nsystem_prompt_tokens = 256\n";
    // The built-in prefill-first engine: prefill steps carry no decodes.
    let builtin = |t: String| t.replace("engine = \"vllm-v1\"\n", "");
    let base = run(&builtin(scenario(5, 30.0, 200_000, HOST, "[kv_cache]\n")));
    let hit = run(&builtin(scenario(
        5,
        30.0,
        200_000,
        HOST,
        &format!("[kv_cache]\n{prompts}"),
    )));
    let k = kv(&hit);
    let hits: u64 = k.hit_tokens.iter().sum();
    assert!(k.hit_rate() > 0.3, "hit rate {}", k.hit_rate());
    assert_eq!(k.hit_tokens[0], hits, "everything fits in HBM");
    assert_eq!(
        base.with_engram.prompt_tokens - hit.with_engram.prompt_tokens,
        hits
    );
    assert!(hit.with_engram.latency.ttft.mean_s < base.with_engram.latency.ttft.mean_s);
}

/// A small HBM pushes cached blocks to host DRAM and NVMe; hits there are reloads whose
/// host-DRAM bytes are what the moves imply, and tenants account for every byte.
#[test]
fn lower_tier_hits_cost_reloads() {
    let tail = "[kv_cache]\nhost_dram = \"1 GiB\"\nnvme = \"8 GiB\"\nprefetch = false\n\
                [prompts]\nturns = 4\nconversations = 8\n";
    let r = run(&scenario(9, 8.0, 1_500, NVME, tail));
    let k = kv(&r);
    assert!(k.offloaded > 0 && k.reloaded[0] > 0, "{k:?}");
    assert!(k.hit_tokens[1] > 0);
    assert_eq!(check_tenants(k), dram_bytes_of_moves(k));
    let kvt = k.tenants.iter().find(|t| t.tenant == "kv-cache").unwrap();
    assert!(
        kvt.exposed > memwall_sim::Ps::ZERO,
        "synchronous reloads stall"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Random tiers, policies and sharing, Engram fetches beside: bytes per resource are
    /// conserved over the tenants, each tenant's hidden + exposed = latency, and the KV
    /// tenant's host-DRAM bytes are exactly those of the blocks it moved.
    #[test]
    fn tenants_conserve_bytes_and_split_latency(
        seed in 0u64..1000,
        rate in 4.0f64..60.0,
        kv_tokens in 6_000u64..40_000,
        host_mib in 0u64..2048,
        nvme in any::<bool>(),
        through in any::<bool>(),
        lru in any::<bool>(),
        prefetch in any::<bool>(),
        sys in 0u64..4,
        turns in 1u64..4,
        conversations in 1u64..6,
    ) {
        let mut t = String::from("[kv_cache]\n");
        if host_mib > 0 {
            t += &format!("host_dram = \"{host_mib} MiB\"\n");
        }
        if nvme {
            t += "nvme = \"4 GiB\"\n";
        }
        t += &format!(
            "write = \"{}\"\neviction = \"{}\"\nprefetch = {prefetch}\n",
            if through { "write-through" } else { "write-back" },
            if lru { "lru" } else { "prefix-aware" },
        );
        t += &format!("[prompts]\nsystem_prompts = {sys}\nsystem_prompt_tokens = 200\nturns = {turns}\nconversations = {conversations}\n");
        let r = run(&scenario(seed, rate, kv_tokens, if nvme { NVME } else { HOST }, &t));
        let k = kv(&r);
        prop_assert_eq!(check_tenants(k), dram_bytes_of_moves(k));
        prop_assert_eq!(r.with_engram.requests, 48);
    }
}
