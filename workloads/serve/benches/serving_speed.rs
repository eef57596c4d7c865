//! Issue 11's speed figures, measured (`cargo bench -p memwall-serve --bench serving_speed`):
//!
//! 1. each 300-request validation run (`scenarios/validation/*.toml`, on
//!    `../shared/data/vllm-serving/`): wall time of the simulation (the bar: under 0.5 s);
//! 2. the Azure conversation hour (19,365 requests, `../shared/data`, else the 200-request
//!    fixture) on the H800 node, DeepSeek-V4.1-Flash with DP attention and EP8 and every
//!    MoE layer's dispatch and combine all-to-all as flows (`[moe]`, Zipf skew 1.0), both
//!    Engram tables in host DRAM prefetched (the bar: under 10 s on one core);
//! 3. memory against the number of requests: the peak resident set (VmHWM) after the
//!    first 2,000 requests of that hour and after all of them.
//!
//! Figures are printed, not asserted: wall and CPU seconds (clock ticks of 10 ms; the step
//! loop is single-threaded, so CPU seconds are one core's), peak RSS.
//! `--quick` runs item 1 and the first 2,000 requests only.

use std::path::{Path, PathBuf};
use std::time::Instant;

use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_serve::{run_scenario_with, RunOptions, Scenario};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Peak resident set of this process so far, in MB.
fn peak_rss_mb() -> Option<f64> {
    memwall_io::process::peak_rss_kib().map(|kib| kib as f64 / 1024.0)
}

/// CPU seconds this process has run (0 where /proc has no figure).
fn cpu_s() -> f64 {
    memwall_io::process::cpu_seconds().unwrap_or(0.0)
}

/// Simulates `s` once; wall seconds and a line about the run (with its CPU seconds).
fn time(s: &Scenario) -> (f64, String) {
    let reg = Registry::embedded().expect("profiles");
    let cpu = cpu_s();
    let t = Instant::now();
    let r = run_scenario_with(
        s,
        &reg,
        &ModelRegistry::builtin(),
        RunOptions { step_rows: false },
    )
    .expect("run");
    let wall = t.elapsed().as_secs_f64();
    let st = &r.with_engram;
    let line = format!(
        "CPU {:.2} s; {} requests, {} steps, {:.1} s simulated, {:.0} tok/s, TPOT mean {:.2} ms",
        cpu_s() - cpu,
        st.requests,
        st.steps,
        st.makespan.as_secs_f64(),
        st.tokens_per_s,
        st.latency.tpot.mean_s * 1e3
    );
    (wall, line)
}

fn validation_runs() {
    let dir = root().join("scenarios/validation");
    let data = root().join("../shared/data/vllm-serving");
    if !data.is_dir() {
        println!("validation runs: skipped ({} absent)", data.display());
        return;
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("scenarios/validation")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    for f in files {
        let s = Scenario::from_file(&f).expect("validation scenario");
        let (wall, line) = time(&s);
        let name = f.file_stem().unwrap_or_default().to_string_lossy();
        println!("validation {name}: simulated in {wall:.3} s ({line})");
    }
}

fn azure_hour(csv: &Path, max_requests: Option<u64>) -> Scenario {
    let limit = max_requests.map_or(String::new(), |n| format!("max_requests = {n}\n"));
    let text = format!(
        "name = \"azure-conv-hour-ep\"\nseed = 1\nsystem = \"deepseek-h800-node\"\n\
         model = \"deepseek-v4.1-flash\"\ncompare_without_engram = false\n\
         [workload]\nkind = \"azure\"\ncsv = \"{}\"\n{limit}\
         [engine]\nexpert_parallel = 8\nmax_num_seqs = 64\nmax_batched_tokens = 8192\n\
         kernels_per_layer = 12\n\
         [moe]\nrouting = \"zipf\"\nskew = 1.0\n\
         [engram]\nlayout = \"v41-flash\"\nplacement = \"host-zero-copy\"\n",
        csv.display()
    );
    Scenario::from_toml_str("azure-hour-ep", &text).expect("scenario")
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    validation_runs();
    let full = root().join("../shared/data/azure-llm-inference-2023-conv.csv");
    let csv = if full.exists() {
        full
    } else {
        println!("notice: {} absent; the 200-request fixture", full.display());
        root().join("tests/fixtures/azure-conv-excerpt.csv")
    };
    let (wall, line) = time(&azure_hour(&csv, Some(2000)));
    let rss = peak_rss_mb().unwrap_or(f64::NAN);
    println!("azure conv, first 2,000 requests, EP8 all-to-all: {wall:.2} s ({line}); peak RSS {rss:.1} MB");
    if quick {
        return;
    }
    let (wall, line) = time(&azure_hour(&csv, None));
    let rss = peak_rss_mb().unwrap_or(f64::NAN);
    println!("azure conv hour, EP8 all-to-all: {wall:.2} s ({line}); peak RSS {rss:.1} MB");
}
