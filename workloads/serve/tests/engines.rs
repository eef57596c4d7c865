//! Engine profiles (docs/engines.md): the Engram paper through nano-vLLM without a fitted
//! factor, tensor parallelism over PCIe, and the errors of a bad `[engine]`.

use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_serve::{run_scenario, Scenario};

mod common;
use common::err;

const NANO_PAPER: &str = include_str!("../../../scenarios/engram-paper-h800-nano-vllm.toml");

fn run(origin: &str, text: &str) -> memwall_serve::RunResult {
    let s = Scenario::from_toml_str(origin, text).unwrap();
    let reg = Registry::embedded().expect("embedded profiles");
    run_scenario(&s, &reg, &ModelRegistry::builtin()).unwrap()
}

/// The Engram paper's system experiment through the nano-vLLM profile, every rate the
/// H800 profile's (no compute_efficiency): nano-vLLM's synchronous CPU step (measured,
/// tools/measure-nano-vllm-cpu.py) sits on the critical path of every step. The penalty
/// must land within 0.5 points of the paper's 1.92%; the baseline is pinned where the
/// model puts it today (above the paper's 9,031.62 tok/s: the CPU figure leaves out
/// torch's tensor building, pinned copies, the sampler and its synchronisation).
#[test]
fn engram_paper_through_nano_vllm_without_a_fitted_factor() {
    let r = run("engram-paper-h800-nano-vllm.toml", NANO_PAPER);
    let base = r.without_engram.as_ref().unwrap().tokens_per_s;
    let p = r.penalty.unwrap() * 100.0;
    println!(
        "Engram paper via nano-vllm: {base:.1} -> {:.1} tok/s, penalty {p:.2}% \
         (paper 9,031.62 -> 8,858.28 tok/s, 1.92%; baseline {:+.1}%)",
        r.with_engram.tokens_per_s,
        (base / 9031.62 - 1.0) * 100.0
    );
    assert!((p - 1.92).abs() < 0.5, "penalty {p:.2}%");
    assert!(
        (base / BASELINE - 1.0).abs() < 0.01,
        "baseline {base:.1} tok/s moved from {BASELINE}"
    );
}

/// What the nano-vLLM profile gives for the paper's baseline today (tok/s).
const BASELINE: f64 = 10_939.6;

fn llama(tp: u32, replicas: u32) -> String {
    format!(
        "system = \"rtxpro6000-2x-pcie\"\nmodel = \"llama-3.1-8b\"\ncompare_without_engram = false\n\
         [workload]\nkind = \"synthetic\"\nrequests = 64\nprompt_tokens = [512, 1024]\n\
         output_tokens = [64, 128]\n[engine]\nengine = \"vllm-v1\"\ntensor_parallel = {tp}\n\
         replicas = {replicas}\nmax_num_seqs = 128\n"
    )
}

/// TP2 over PCIe: faster than one GPU, but the two all-reduces per layer keep it well
/// short of twice as fast.
#[test]
fn tensor_parallel_over_pcie_pays_its_all_reduces() {
    let one = run("tp1.toml", &llama(1, 1)).with_engram.tokens_per_s;
    let two = run("tp2.toml", &llama(2, 1)).with_engram.tokens_per_s;
    println!("Llama-3.1-8B on RTX PRO 6000: TP1 {one:.0} tok/s, TP2 over PCIe {two:.0} tok/s");
    assert!(two > one && two < 1.9 * one, "TP1 {one:.0}, TP2 {two:.0}");
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
