//! Deterministic simulation testing: a seeded generator of random but valid serving
//! scenarios (system, placement, drives, batch, lengths, replicas, prefetch, caches) runs
//! each one twice and checks the invariants: per op category hidden + exposed = latency,
//! nothing exposed beyond its latency, and a byte-identical rerun. A failure prints the
//! seed and the scenario that reproduce it.
//!
//! `cargo test --release --test dst` runs a few; a long campaign:
//! `MEMWALL_DST_RUNS=10000 MEMWALL_DST_SEED=1 cargo test --release --test dst -- --nocapture`.

use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_serve::{run_scenario, summary_csv, Scenario};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A random valid scenario.
fn scenario(rng: &mut ChaCha8Rng) -> String {
    let system = ["deepseek-h800-node", "hgx-h200", "hgx-b200", "dgx-h100"][rng.gen_range(0..4)];
    let placement =
        ["host-zero-copy", "hbm", "nvme", "host-dma", "gpu-sharded"][rng.gen_range(0..5)];
    let p0 = rng.gen_range(1..256u32);
    let o0 = rng.gen_range(1..64u32);
    let mut s = format!(
        "name = \"dst\"\nseed = {}\nsystem = \"{system}\"\nmodel = \"qwen3-4b-dense\"\n\
         compare_without_engram = {}\n[workload]\nkind = \"synthetic\"\nrequests = {}\n\
         prompt_tokens = [{p0}, {}]\noutput_tokens = [{o0}, {}]\n[engine]\nreplicas = {}\n\
         max_num_seqs = {}\nmax_batched_tokens = {}\nkernels_per_layer = {}\n\
         cuda_graph_decode = {}\n[engram]\nlayout = \"demo\"\nplacement = \"{placement}\"\n\
         prefetch = {}\n",
        rng.gen::<u32>(),
        rng.gen_bool(0.5),
        rng.gen_range(1..12),
        p0 + rng.gen_range(0..256),
        o0 + rng.gen_range(0..32),
        rng.gen_range(1..3),
        rng.gen_range(1..16),
        rng.gen_range(512..8192),
        rng.gen_range(0..16),
        rng.gen_bool(0.5),
        rng.gen_bool(0.5),
    );
    if placement == "nvme" {
        s.push_str(&format!("drives = {}\n", rng.gen_range(1..5)));
    }
    s
}

#[test]
fn random_valid_scenarios_keep_every_invariant() {
    let runs: u64 = std::env::var("MEMWALL_DST_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let seed: u64 = std::env::var("MEMWALL_DST_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let reg = Registry::embedded().unwrap();
    let models = ModelRegistry::builtin();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut ran, mut refused) = (0u64, 0u64);
    for case in 0..runs {
        let text = scenario(&mut rng);
        let fail = |why: String| -> ! {
            panic!("DST seed {seed} case {case}: {why}\n--- scenario ---\n{text}")
        };
        let s = Scenario::from_toml_str("dst.toml", &text).unwrap_or_else(|e| fail(e.to_string()));
        let r = match run_scenario(&s, &reg, &models) {
            Ok(r) => r,
            // A valid file the system cannot serve (weights too large, ...) must say so.
            Err(e) if !e.to_string().trim().is_empty() => {
                if refused == 0 {
                    eprintln!("first refusal (case {case}): {e}");
                }
                refused += 1;
                continue;
            }
            Err(e) => fail(format!("empty error {e:?}")),
        };
        let again = run_scenario(&s, &reg, &models).unwrap_or_else(|e| fail(e.to_string()));
        if summary_csv(&r) != summary_csv(&again) {
            fail("the rerun differs".into());
        }
        for (name, t) in &r.with_engram.by_category {
            if t.hidden.as_ps() + t.exposed.as_ps() != t.latency.as_ps() {
                fail(format!("{name}: hidden + exposed != latency ({t:?})"));
            }
        }
        ran += 1;
    }
    eprintln!("DST seed {seed}: {runs} scenarios, {ran} simulated twice, {refused} refused");
    assert!(ran > 0, "every generated scenario was refused");
}
