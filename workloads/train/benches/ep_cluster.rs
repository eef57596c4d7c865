//! Benchmark: one EP64 dispatch plus combine of a DeepSeek-V3 MoE layer in whole-cluster
//! mode (every GPU its own rank, per-GPU-pair flows over the multi-plane fat tree of the
//! `deepseek-h800-cluster` profile), built, routed and simulated on one core.
//! Run: `cargo bench -p memwall-train --bench ep_cluster` (all 256 nodes, 2,048 GPUs), or
//! with `MEMWALL_BENCH_NODES=16` for a part of the cluster. Issue 13's target for the
//! full cluster: under 10 s.

use std::time::Instant;

use memwall_llm::ModelRegistry;
use memwall_models::fabric::ClusterFabric;
use memwall_models::Registry;
use memwall_train::cluster::{run_ep_layer, EpSetup};
use memwall_train::{effective_model, TrainConfig, TrainHw};

fn main() {
    let nodes: u32 = std::env::var("MEMWALL_BENCH_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let cfg = TrainConfig::builtin("deepseek-v3-h800").expect("built-in config");
    let m = effective_model(&cfg, &ModelRegistry::builtin()).expect("model");
    let s = EpSetup::from_config(&cfg, &m).expect("MoE model");
    let sys = Registry::embedded()
        .and_then(|r| r.system(&cfg.system))
        .expect("shipped cluster profile");
    let hw = TrainHw::shipped(&cfg.system, &cfg).expect("shipped system profile");
    let eff = cfg.a2a_efficiency;
    let t = Instant::now();
    let mut f =
        ClusterFabric::build(&sys, Some(nodes), (eff * 1e6).round() as u32).expect("fabric");
    let r = run_ep_layer(&mut f, &s, &hw, eff).expect("EP layer");
    let dt = t.elapsed().as_secs_f64();
    let (d, c) = (&r.dispatch.cluster, &r.combine.cluster);
    let events = d.events + c.events;
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
