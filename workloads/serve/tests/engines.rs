//! Engine profiles (docs/engines.md): tensor parallelism over PCIe and the errors of a bad
//! `[engine]` (the Engram paper through nano-vLLM is tests/serving.rs's paper test).

use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_serve::{run_scenario, Scenario};

mod common;
use common::err;

fn run(origin: &str, text: &str) -> memwall_serve::RunResult {
    let s = Scenario::from_toml_str(origin, text).unwrap();
    let reg = Registry::embedded().expect("embedded profiles");
    run_scenario(&s, &reg, &ModelRegistry::builtin()).unwrap()
}

fn llama(tp: u32, replicas: u32) -> String {
    format!(
        "system = \"rtxpro6000-2x-pcie\"\nmodel = \"llama-3.1-8b\"\ncompare_without_engram = false\n\
         [workload]\nkind = \"synthetic\"\nrequests = 64\nprompt_tokens = [512, 1024]\n\
         output_tokens = [64, 128]\n[engine]\nengine = \"vllm-v1\"\ntensor_parallel = {tp}\n\
         replicas = {replicas}\nmax_num_seqs = 128\n"
    )
}

/// TP2 over PCIe: each GPU reads half the weights, so tokens come faster once a request
/// decodes, but the two all-reduces per layer (16.8 MB each for a 2,048-token prefill
/// chunk, on a box whose NCCL moves about 16 GB/s, R202) keep the whole run well short of
/// twice one GPU's throughput.
#[test]
fn tensor_parallel_over_pcie_pays_its_all_reduces() {
    let one = run("tp1.toml", &llama(1, 1)).with_engram;
    let two = run("tp2.toml", &llama(2, 1)).with_engram;
    let (t1, t2) = (one.latency.tpot.mean_s * 1e3, two.latency.tpot.mean_s * 1e3);
    let (r1, r2) = (one.tokens_per_s, two.tokens_per_s);
    println!(
        "Llama-3.1-8B on RTX PRO 6000: TP1 {r1:.0} tok/s, TPOT {t1:.2} ms; \
         TP2 over PCIe {r2:.0} tok/s, TPOT {t2:.2} ms"
    );
    assert!(t2 < t1, "TPOT: TP1 {t1:.2} ms, TP2 {t2:.2} ms");
    assert!(r2 < 1.9 * r1, "TP1 {r1:.0} tok/s, TP2 {r2:.0}");
}

#[test]
fn bad_engines_are_named_with_file_line_and_field() {
    let e = err(&llama(1, 1).replace("\"vllm-v1\"", "\"vllm-v9\""));
    assert!(
        e.contains("bad.toml:10") && e.contains("engine.engine") && e.contains("nano-vllm"),
        "{e}"
    );
    let e = err(&llama(4, 0));
    assert!(
        e.contains("bad.toml:11") && e.contains("engine.tensor_parallel") && e.contains("2 GPUs"),
        "{e}"
    );
    let e = err(&llama(0, 1));
    assert!(e.contains("tensor_parallel"), "{e}");
}
