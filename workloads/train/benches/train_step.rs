//! Benchmark: a 16-stage, 120-micro-batch DualPipe step of a 61-layer model (DeepSeek-V3
//! on the H800 cluster, EP64, V3 per-layer interleave), built and simulated on one core.
//! Run: `cargo bench -p memwall-workloads --bench train_step`. Target: under 1 s.

use std::time::Instant;

use memwall_llm::ModelRegistry;
use memwall_train as training;
use memwall_train::{TrainConfig, TrainHw};

fn main() {
    let cfg = TrainConfig::builtin("deepseek-v3-h800").expect("built-in config");
    assert_eq!((cfg.pp, cfg.micro_batches), (16, 120));
    let hw = TrainHw::shipped(&cfg.system, &cfg).expect("shipped system profile");
    let mut best = f64::MAX;
    let mut ops = 0;
    let mut events = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let plan = training::plan(&cfg, &hw, &ModelRegistry::builtin()).expect("plan");
        let run = training::run_step(&plan).expect("run_step");
        let dt = t.elapsed().as_secs_f64();
        best = best.min(dt);
        ops = run.timeline.records.len();
        events = run.events;
        std::hint::black_box(run.step_time);
    }
    println!(
        "train_step: DualPipe PP=16 N=120, 61 layers: {ops} ops, {events} events, best of 5: {:.3} s (target < 1 s)",
        best
    );
    if best >= 1.0 {
        eprintln!("train_step: SLOWER than the 1 s target");
        std::process::exit(1);
    }
}
