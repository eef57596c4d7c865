//! Benchmark: one EP64 dispatch plus combine of a DeepSeek-V3 MoE layer in whole-cluster
//! mode (every GPU its own rank, per-GPU-pair flows over the multi-plane fat tree of the
//! `deepseek-h800-cluster` profile), built, routed and simulated on one core.
//! Run: `cargo bench -p memwall-train --bench ep_cluster` (all 256 nodes, 2,048 GPUs), or
//! with `MEMWALL_BENCH_NODES=16` for a part of the cluster. Issue 13's target for the
//! full cluster: under 10 s. `MEMWALL_BENCH_SPREAD=1` spreads each EP group over the
//! cluster (its traffic crosses the spines: one coupled component) and
//! `MEMWALL_BENCH_UPLINKS=N` gives each leaf N uplinks instead of the profile's (fewer
//! than 32 oversubscribes), to time the case where the fabric is the bottleneck.

use std::time::Instant;

use memwall_llm::ModelRegistry;
use memwall_models::fabric::ClusterFabric;
use memwall_models::Registry;
use memwall_train::cluster::{run_ep_layer, EpSetup, Placement};
use memwall_train::{effective_model, TrainConfig, TrainHw};

fn env(name: &str) -> Option<u32> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() {
    let nodes = env("MEMWALL_BENCH_NODES").unwrap_or(256);
    let cfg = TrainConfig::builtin("deepseek-v3-h800").expect("built-in config");
    let m = effective_model(&cfg, &ModelRegistry::builtin()).expect("model");
    let mut s = EpSetup::from_config(&cfg, &m).expect("MoE model");
    if env("MEMWALL_BENCH_SPREAD") == Some(1) {
        s.placement = Placement::Spread;
    }
    let mut sys = Registry::embedded()
        .and_then(|r| r.system(&cfg.system))
        .expect("shipped cluster profile");
    if let (Some(u), Some(c)) = (env("MEMWALL_BENCH_UPLINKS"), sys.cluster.as_mut()) {
        c.fabric.leaf_uplinks = u;
    }
    let hw = TrainHw::shipped(&cfg.system, &cfg).expect("shipped system profile");
    let eff = cfg.a2a_efficiency;
    let t = Instant::now();
    let mut f =
        ClusterFabric::build(&sys, Some(nodes), (eff * 1e6).round() as u32).expect("fabric");
    let r = run_ep_layer(&mut f, &s, &hw, eff).expect("EP layer");
    let dt = t.elapsed().as_secs_f64();
    let (d, c) = (&r.dispatch.cluster, &r.combine.cluster);
    let events = d.events + c.events;
    let neck = |p: &memwall_train::cluster::PhaseCompare| {
        p.cluster.bottleneck().map_or(String::new(), |b| {
            format!("{} {:.1}%", b.resource, 100.0 * b.utilisation)
        })
    };
    println!(
        "ep_cluster: bottlenecks {} / {}, {:?} placement, {:.2}:1 leaves",
        neck(&r.dispatch),
        neck(&r.combine),
        s.placement,
        f.oversubscription
    );
    println!(
        "ep_cluster: EP64 dispatch+combine, {} GPUs, {} links, {} flows, {events} events: {dt:.3} s wall ({:.0} events/s); simulated {} + {} ps (aggregate {} + {} ps) (target < 10 s at 2,048 GPUs)",
        r.gpus,
        f.net.resource_count(),
        d.flows + c.flows,
        events as f64 / dt,
        d.time.0,
        c.time.0,
        r.dispatch.aggregate.0,
        r.combine.aggregate.0,
    );
}
