//! The real hour of Azure conversation requests (19,365 requests; `../shared/data`, or
//! the 200-request fixture when absent) served by DeepSeek-V4.1-Flash on the H800 node
//! with both Engram tables in pinned host DRAM (zero-copy, prefetched). Must simulate in
//! under 30 s on one core. `cargo bench -p memwall-workloads --bench serving`.
//!
//! Each request's token text is a seeded slice of the Shakespeare corpus tokenized with the
//! DeepSeek-V4 tokenizer (`[text]`), when tools/fetch-inputs.sh has fetched them into
//! .cache/inputs (else a notice, and synthetic text; with CI=true their absence fails),
//! and both Engram layers' row ids are hashed from it for every token served.

use std::time::Instant;

use memwall_models::Registry;
use memwall_serve::{run_scenario_with, RunOptions, Scenario};

fn main() {
    let full = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/azure-llm-inference-2023-conv.csv"
    );
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/azure-conv-excerpt.csv"
    );
    let csv = if std::path::Path::new(full).exists() {
        full
    } else {
        eprintln!("notice: {full} absent; using the 200-request fixture");
        fixture
    };
    let inputs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.cache/inputs");
    let corpus = format!("{inputs}/shakespeare");
    let tokenizer = format!("{inputs}/deepseek-v4/tokenizer.json");
    let text_table =
        if std::path::Path::new(&corpus).is_dir() && std::path::Path::new(&tokenizer).is_file() {
            format!("[text]\ncorpus = \"{corpus}\"\ntokenizer = \"{tokenizer}\"\n")
        } else if std::env::var("CI").is_ok_and(|v| v == "true") {
            eprintln!(
                "FAIL: CI=true and {corpus} or {tokenizer} is missing: run tools/fetch-inputs.sh"
            );
            std::process::exit(1);
        } else {
            eprintln!("notice: {inputs} not fetched; synthetic token text (tools/fetch-inputs.sh)");
            String::new()
        };
    let text = format!(
        "name = \"azure-conv-hour\"\nseed = 1\nsystem = \"deepseek-h800-node\"\nmodel = \"deepseek-v4.1-flash\"\n\
         compare_without_engram = false\n[workload]\nkind = \"azure\"\ncsv = \"{csv}\"\n\
         [engine]\nexpert_parallel = 8\nmax_num_seqs = 64\nmax_batched_tokens = 8192\nkernels_per_layer = 12\n\
         [engram]\nlayout = \"v41-flash\"\nplacement = \"host-zero-copy\"\n{text_table}"
    );
    let s = Scenario::from_toml_str("azure-hour", &text).expect("scenario");
    let reg = Registry::embedded().expect("profiles");
    let t = Instant::now();
    let r = run_scenario_with(
        &s,
        &reg,
        &memwall_llm::ModelRegistry::builtin(),
        RunOptions { step_rows: false },
    )
    .expect("run");
    let wall = t.elapsed().as_secs_f64();
    let st = &r.with_engram;
    println!(
        "azure conv hour ({}): {} requests, {} steps, {:.1} s simulated, {} output tokens; \
         simulated in {wall:.2} s ({:.0} steps/s); Engram stall p99 {:.1} us",
        if text_table.is_empty() {
            "synthetic text"
        } else {
            "Shakespeare corpus text, V4 tokenizer"
        },
        st.requests,
        st.steps,
        st.makespan.as_secs_f64(),
        st.output_tokens,
        st.steps as f64 / wall,
        st.step_exposed_p99.0 as f64 / 1e6
    );
    if csv == full && wall > 30.0 {
        eprintln!("FAIL: over 30 s");
        std::process::exit(1);
    }
}
