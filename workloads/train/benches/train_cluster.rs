//! Benchmark: one full training step of DeepSeek-V3 (61 layers, 16 stages, DualPipe, 120
//! micro-batches: the shipped `deepseek-v3-h800` config) in whole-cluster mode on the
//! 2,048 GPUs of the `deepseek-h800-cluster` profile (every GPU's communication as
//! per-GPU-pair flows over the multi-plane fat tree; `memwall_train::cluster::step`),
//! then the same step in the aggregate model. Prints wall time, events and the process's
//! peak resident memory (VmHWM). Issue 13's target: under 5 minutes on 2 cores, under
//! 8 GiB. Run: `cargo bench -p memwall-train --bench train_cluster`;
//! `MEMWALL_BENCH_MICRO_BATCHES=N` runs N micro-batches instead of 120.

use std::time::Instant;

use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_train::cluster::step::{run_whole_cluster, WholeOptions};
use memwall_train::cluster::EpSetup;
use memwall_train::{effective_model, plan, run_step, TrainConfig, TrainHw};

fn main() {
    let mut cfg = TrainConfig::builtin("deepseek-v3-h800").expect("built-in config");
    if let Some(n) = std::env::var("MEMWALL_BENCH_MICRO_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.micro_batches = n;
        cfg.global_batch = None;
        cfg.sequence_length = None;
        // The batch ramp is relative to global_batch, which no longer applies.
        cfg.batch_ramp = None;
    }
    let models = ModelRegistry::builtin();
    let m = effective_model(&cfg, &models).expect("model");
    let hw = TrainHw::shipped(&cfg.system, &cfg).expect("shipped system profile");
    let p = plan(&cfg, &hw, &models).expect("plan");
    let sys = Registry::embedded()
        .and_then(|r| r.system(&cfg.system))
        .expect("shipped cluster profile");
    let setup = EpSetup::from_config(&cfg, &m).expect("MoE model");
    let off = |v: &str| std::env::var(v).is_ok();
    let opts = WholeOptions {
        prune: !off("MEMWALL_BENCH_NO_PRUNE"),
        fold: !off("MEMWALL_BENCH_NO_FOLD"),
    };
    let t = Instant::now();
    let w = run_whole_cluster(&p, &sys, setup, cfg.dp, opts).expect("whole-cluster step");
    let dt = t.elapsed().as_secs_f64();
    let rss = memwall_io::process::peak_rss_kib().unwrap_or(0);
    let t = Instant::now();
    let agg = run_step(&p).expect("aggregate step");
    let da = t.elapsed().as_secs_f64();
    println!(
        "train_cluster: {} layers, PP{} {} N{}: {} GPUs as {} lanes of {} EP groups each, {} links, {} ops, {} events, {} shared flow lists ({} flows)",
        m.num_layers,
        cfg.pp,
        cfg.schedule,
        cfg.micro_batches,
        w.gpus,
        w.lanes,
        w.folded,
        w.links,
        w.run.timeline.records.len(),
        w.run.events,
        w.patterns,
        w.pattern_flows
    );
    println!(
        "train_cluster: whole-cluster step {:.3} ms simulated in {dt:.1} s wall, peak RSS {:.2} GiB (target < 300 s, < 8 GiB); aggregate step {:.3} ms in {da:.2} s (ratio {:.4})",
        w.run.step_time.as_ms_f64(),
        rss as f64 / (1u64 << 20) as f64,
        agg.step_time.as_ms_f64(),
        w.run.step_time.0 as f64 / agg.step_time.0.max(1) as f64
    );
}
