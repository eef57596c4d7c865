#![allow(clippy::result_large_err)] // ScenarioError as the library returns it (its lib allows the same)
//! Clients end to end: a closed loop keeps its concurrency and issues each request when
//! one finishes; a Poisson client is seeded; warm-up and cool-down are left out of the
//! metrics; bad client fields are errors at their line.

use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_serve::{run_scenario, RequestRecord, Scenario};
use memwall_sim::Ps;

fn run(workload: &str, metrics: &str) -> Vec<RequestRecord> {
    let s = scenario(workload, metrics).unwrap();
    let r = run_scenario(
        &s,
        &Registry::embedded().unwrap(),
        &ModelRegistry::builtin(),
    )
    .unwrap();
    assert_eq!(r.with_engram.latency.requests, r.requests.len() as u64);
    r.requests
}

fn scenario(workload: &str, metrics: &str) -> Result<Scenario, memwall_serve::ScenarioError> {
    let text = format!(
        "name = \"clients\"\nseed = 5\nsystem = \"hgx-h200\"\nmodel = \"qwen3-4b-dense\"\n\
         [workload]\n{workload}\n[metrics]\n{metrics}\n\
         [engine]\nreplicas = 2\nmax_num_seqs = 64\nmax_batched_tokens = 2048\n"
    );
    Scenario::from_toml_str("clients.toml", &text)
}

#[test]
fn a_closed_loop_keeps_its_concurrency() {
    let w = "kind = \"closed-loop\"\nconcurrency = 4\nrequests = 24\n\
             prompt_tokens = [50, 400]\noutput_tokens = [5, 40]";
    let recs = run(w, "warmup_requests = 4\ncooldown_requests = 3");
    assert_eq!(recs.len(), 24);
    assert_eq!(recs, run(w, "warmup_requests = 4\ncooldown_requests = 3"));
    // At every arrival, at most 4 requests are in flight (arrived, last token not yet).
    for r in &recs {
        let t = r.arrival;
        let inflight = recs
            .iter()
            .filter(|q| q.arrival <= t && q.last_token > t)
            .count();
        assert!(inflight <= 4, "{inflight} in flight at {t:?}");
    }
    // The first 4 arrive at once; every later one when an earlier one finishes (think
    // time 0): the arrivals are the first 20 finishes.
    assert!(recs[..4].iter().all(|r| r.arrival == Ps::ZERO));
    let mut arrivals: Vec<Ps> = recs[4..].iter().map(|r| r.arrival).collect();
    let mut finishes: Vec<Ps> = recs.iter().map(|r| r.last_token).collect();
    finishes.sort();
    arrivals.sort();
    assert_eq!(arrivals, finishes[..20]);
    let measured: Vec<u64> = recs.iter().filter(|r| r.measured).map(|r| r.id).collect();
    assert_eq!(measured, (4..21).collect::<Vec<u64>>());
}

#[test]
fn poisson_requests_arrive_open_loop() {
    let w = "kind = \"poisson\"\nrate = 40.0\nrequests = 60\n\
             prompt_tokens = [50, 400]\noutput_tokens = [5, 40]";
    let recs = run(w, "");
    assert_eq!(recs.len(), 60);
    assert!(recs.iter().all(|r| r.measured));
    assert!(recs.windows(2).all(|p| p[0].arrival <= p[1].arrival));
    // Arrivals do not wait for finishes: the last arrives before all have finished.
    let last_finish = recs.iter().map(|r| r.last_token).max().unwrap();
    assert!(recs[59].arrival < last_finish);
    assert!(recs.iter().all(|r| r.scheduled >= r.arrival
        && r.first_token > r.scheduled
        && r.last_token >= r.first_token));
}

#[test]
fn bad_client_fields_are_errors_at_their_line() {
    let cases = [
        (
            "kind = \"poisson\"\nrate = 0.0\nrequests = 6\nprompt_tokens = [5, 9]\noutput_tokens = [5, 9]",
            "",
            "clients.toml:7: field `workload.rate`",
        ),
        (
            "kind = \"poisson\"\nrate = 1.0\nrequests = 6\nprompt_tokens = [5, 9]\n\
             output_tokens = [5, 9]\nlengths = \"r.jsonl\"",
            "",
            "give either prompt_tokens and output_tokens, or lengths",
        ),
        (
            "kind = \"closed-loop\"\nconcurrency = 0\nrequests = 6\nprompt_tokens = [5, 9]\noutput_tokens = [5, 9]",
            "",
            "clients.toml:7: field `workload.concurrency` = 0 is out of range",
        ),
        (
            "kind = \"closed-loop\"\nconcurrency = 2\nrequests = 6\nthink_time = \"soon\"\n\
             prompt_tokens = [5, 9]\noutput_tokens = [5, 9]",
            "",
            "clients.toml:9: field `workload.think_time` = \"soon\"",
        ),
        (
            "kind = \"synthetic\"\nrequests = 6\nprompt_tokens = [5, 9]\noutput_tokens = [5, 9]",
            "slo_tpot = \"fast\"",
            "field `metrics.slo_tpot` = \"fast\"",
        ),
    ];
    for (w, m, want) in cases {
        let e = scenario(w, m).unwrap_err().to_string();
        assert!(e.contains(want), "{w}:\n{e}");
    }
    // Warm-up and cool-down that leave nothing measured: an error when run.
    let s = scenario(
        "kind = \"synthetic\"\nrequests = 6\nprompt_tokens = [5, 9]\noutput_tokens = [5, 9]",
        "warmup_requests = 4\ncooldown_requests = 2",
    )
    .unwrap();
    let e = run_scenario(
        &s,
        &Registry::embedded().unwrap(),
        &ModelRegistry::builtin(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("leaves none of the 6 requests measured"), "{e}");
}

/// The metric definitions reproduce the published summaries of the shared vLLM runs
/// (`../shared/data/vllm-serving/README.md`) from their measured timestamps: TTFT mean
/// and median, TPOT mean and median, end-to-end mean, to the 0.1 ms they are given in.
#[test]
fn the_definitions_reproduce_the_vllm_summaries() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/vllm-serving"
    );
    if !std::path::Path::new(dir).exists() {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "{dir} missing under CI"
        );
        eprintln!("notice: {dir} absent; skipping");
        return;
    }
    // TTFT mean, median; TPOT mean, median; E2E mean (ms), as the README gives them.
    let published = [
        (
            "rtx4090-llama-3.1-8b-tp1",
            [65_456.6, 60_110.9, 32.45, 30.76, 86_578.3],
        ),
        (
            "rtxpro6000-llama-3.1-8b-tp1",
            [7_097.2, 9_442.7, 32.46, 33.42, 28_200.7],
        ),
        (
            "rtxpro6000-qwen3-32b-tp2",
            [36_905.2, 40_701.8, 80.31, 84.28, 90_408.1],
        ),
    ];
    for (run, want) in published {
        let text = std::fs::read_to_string(format!("{dir}/{run}/requests.jsonl")).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let t0 = lines[0]["queued_ts"].as_f64().unwrap();
        let ps = |v: &serde_json::Value, k: &str| {
            Ps(((v[k].as_f64().unwrap() - t0) * 1e12).round() as u64)
        };
        let recs: Vec<RequestRecord> = lines
            .iter()
            .enumerate()
            .map(|(i, v)| RequestRecord {
                id: i as u64,
                arrival: ps(v, "queued_ts"),
                prompt: v["input_toks"].as_u64().unwrap() as u32,
                output: v["output_toks"].as_u64().unwrap() as u32,
                scheduled: ps(v, "scheduled_ts"),
                first_token: ps(v, "first_token_ts"),
                last_token: ps(v, "last_token_ts"),
                measured: true,
            })
            .collect();
        let s = memwall_serve::metrics::summarize(&recs, &Default::default(), Default::default());
        let got = [
            s.ttft.mean_s,
            s.ttft.p50_s,
            s.tpot.mean_s,
            s.tpot.p50_s,
            s.e2e.mean_s,
        ]
        .map(|x| x * 1e3);
        for (g, w) in got.iter().zip(want) {
            let tol = if w > 100.0 { 0.05 } else { 0.005 };
            assert!((g - w).abs() <= tol, "{run}: {got:?} against {want:?}");
        }
    }
}
