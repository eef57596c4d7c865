//! Capacity-search speed: a 60-cell plan (4 systems x 15 placements: TP1 / DP2 / TP2 x
//! max_num_seqs 32 to 512), each cell a full rate search (bracketing + bisection, about
//! a dozen 300-request serving runs), on the shared RTX PRO 6000 Llama-3.1-8B setup's
//! scenario and request lengths; at 1 and 2 threads, checking the outputs are
//! byte-identical, printing wall times and the process's CPU time (on a shared machine
//! the wall time grows with the other load; the CPU time does not).
//!
//! cargo bench -p memwall-sweep --bench plan

use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_sweep::capacity::{self, PlanSpec};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

fn plan_text(root: &Path) -> String {
    let mut t = format!(
        r#"[plan]
name = "bench"
scenario = "{}"
target_rate = 20.0
[stream]
requests = 300
lengths = "{}"
[slo]
ttft = {{ percentile = "p99", limit = "200 ms" }}
[search]
min_rate = 0.5
max_rate = 256.0
tolerance = 0.02
"#,
        root.join("scenarios/validation/vllm-rtxpro6000-llama-3.1-8b-tp1.toml")
            .display(),
        root.join("tests/fixtures/vllm-rtxpro6000-llama-3.1-8b-requests-300.jsonl")
            .display()
    );
    for (layout, tp, replicas) in [("tp1", 1, 1), ("dp2", 1, 2), ("tp2", 2, 1)] {
        for seqs in [32, 64, 128, 256, 512] {
            let _ = write!(
                t,
                "[[placement]]\nname = \"{layout}-seqs{seqs}\"\n[placement.set.engine]\ntensor_parallel = {tp}\nreplicas = {replicas}\nmax_num_seqs = {seqs}\n"
            );
        }
    }
    for (sys, price) in [
        ("rtxpro6000-2x-pcie", "$1.80/h"),
        ("dgx-h100", "$4.92/h"),
        ("hgx-h200", "$5.41/h"),
        ("hgx-b200", "$5.50/h"),
    ] {
        let _ = write!(
            t,
            "[[system]]\nname = \"{sys}\"\nprice = \"{price}\"\nsource = \"bench\"\n"
        );
    }
    t
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = std::env::temp_dir().join(format!("memwall-plan-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let spec = PlanSpec::parse(&dir.join("bench.toml"), &plan_text(&root)).unwrap();
    let reg = Registry::embedded().unwrap();
    let models = ModelRegistry::builtin();
    let mut outputs = Vec::new();
    let mut times = Vec::new();
    for threads in [1usize, 2] {
        let (t0, c0) = (Instant::now(), memwall_io::process::cpu_seconds());
        let cells = capacity::prepare(&spec, &reg).unwrap();
        let r = capacity::run(&spec, cells, &reg, &models, Some(threads)).unwrap();
        let wall = t0.elapsed().as_secs_f64();
        let cpu = memwall_io::process::cpu_seconds()
            .zip(c0)
            .map_or("unknown".into(), |(a, b)| format!("{:.2} s", a - b));
        let probes: usize = r.cells.iter().map(|c| c.search.probes.len()).sum();
        println!(
            "{} cells, {probes} serving runs of 300 requests, {threads} thread(s): {wall:.2} s wall ({:.1} ms/run), CPU {cpu}",
            r.cells.len(),
            wall * 1e3 / probes as f64
        );
        times.push(wall);
        let out = dir.join(format!("t{threads}"));
        capacity::report::write_all(&out, &spec, &r).unwrap();
        outputs.push(
            ["plan.csv", "probes.csv", "summary.json"].map(|f| std::fs::read(out.join(f)).unwrap()),
        );
    }
    println!("speed-up at 2 threads: {:.2}x", times[0] / times[1]);
    assert_eq!(
        outputs[0], outputs[1],
        "outputs differ between 1 and 2 threads"
    );
    println!("plan.csv, probes.csv, summary.json byte-identical at 1 and 2 threads");
    let _ = std::fs::remove_dir_all(&dir);
}
