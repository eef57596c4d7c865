//! Issue 13's serving figure (`cargo bench -p memwall-serve --bench ep_cluster`): how long
//! whole-cluster expert parallelism takes to simulate, DeepSeek-V3 decode over EP144 (18
//! H800 nodes of the multi-plane fat-tree, 256 routed + 32 redundant experts, every
//! dispatch and combine one flow per GPU pair).
//!
//! 1. One all-to-all round on the fabric alone (`ep_cluster::round`): 128 tokens per GPU
//!    (expected routing counts: every pair the same size) and 16 (drawn token by token:
//!    every pair its own size, so nearly every flow ends at its own instant).
//! 2. The serving step loop: the same scenario served for 8 and for 40 output tokens;
//!    the difference over the difference in steps is the CPU of one decode step of all
//!    144 replicas, the wiring and start-up left out.
//!
//! Figures are printed, not asserted: CPU seconds from `/proc/self/stat` (ticks of 10 ms,
//! one core: the simulation is single-threaded), wall seconds beside them.

use std::time::Instant;

use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_serve::ep_cluster::round;
use memwall_serve::moe::{Routed, Router, Routing};
use memwall_serve::{run_scenario_with, RunOptions, Scenario};

/// CPU seconds this process has run (0 where /proc has no figure).
fn cpu_s() -> f64 {
    memwall_io::process::cpu_seconds().unwrap_or(0.0)
}

fn rounds(tokens: u64, reps: u32) {
    let sys = Registry::embedded()
        .expect("profiles")
        .system("deepseek-h800-cluster")
        .expect("cluster");
    let mut r = Router::with_copies(256, 32, 8, 144, Routing::Uniform, 1);
    let mut out = Routed::default();
    r.route(&[tokens; 144], &mut out);
    let (cpu, t) = (cpu_s(), Instant::now());
    let mut line = String::new();
    for _ in 0..reps {
        let x = round(&sys, 144, &out.pairs, (7392, 14336)).expect("round");
        line = format!(
            "{} + {} flows, {} + {} events, dispatch {:.1} us + combine {:.1} us simulated",
            x.dispatch.fabric.flows,
            x.combine.fabric.flows,
            x.dispatch.fabric.events,
            x.combine.fabric.events,
            x.dispatch.fabric.time.0 as f64 / 1e6,
            x.combine.fabric.time.0 as f64 / 1e6
        );
    }
    let n = reps as f64;
    println!(
        "EP144 round, {tokens} tokens per GPU: {:.1} ms CPU, {:.1} ms wall per round (wiring \
         included; {reps} rounds); {line}",
        (cpu_s() - cpu) / n * 1e3,
        t.elapsed().as_secs_f64() / n * 1e3
    );
}

fn serve(output: u32) -> (f64, f64, u64) {
    let text = format!(
        "system = \"deepseek-h800-cluster\"\nmodel = \"deepseek-v3\"\nseed = 3\n\
         compare_without_engram = false\n\
         [workload]\nkind = \"synthetic\"\nrequests = 2304\nprompt_tokens = [1, 2]\n\
         output_tokens = [{output}, {output}]\n\
         [engine]\nexpert_parallel = 144\nmax_num_seqs = 16\nkernels_per_layer = 12\n\
         [moe]\nredundant_experts = 32\n"
    );
    let s = Scenario::from_toml_str("ep144-decode", &text).expect("scenario");
    let reg = Registry::embedded().expect("profiles");
    let (cpu, t) = (cpu_s(), Instant::now());
    let r = run_scenario_with(
        &s,
        &reg,
        &ModelRegistry::builtin(),
        RunOptions { step_rows: false },
    )
    .expect("run");
    (
        cpu_s() - cpu,
        t.elapsed().as_secs_f64(),
        r.with_engram.steps,
    )
}

fn main() {
    rounds(128, 5);
    rounds(16, 5);
    let (c1, w1, s1) = serve(8);
    let (c2, w2, s2) = serve(40);
    let steps = (s2 - s1) as f64;
    println!(
        "EP144 serving, 144 replicas x 16 sequences: {s1} steps in {c1:.2} s CPU ({w1:.2} s \
         wall), {s2} steps in {c2:.2} s CPU ({w2:.2} s wall): one decode step {:.1} ms CPU \
         ({:.1} ms wall)",
        (c2 - c1) / steps * 1e3,
        (w2 - w1) / steps * 1e3
    );
}
