//! End-to-end: `memwall run` with shipped scenarios by name, and with user models (a
//! path in the scenario, or `--models`), which must give what the shipped model gives.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn memwall(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memwall"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run memwall")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memwall-run-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The shipped default scenario with `model = ...` replaced.
fn default_with_model(model: &str) -> String {
    let text = std::fs::read_to_string(root().join("scenarios/default.toml")).unwrap();
    text.replace(
        "model = \"deepseek-v4.1-flash\"",
        &format!("model = \"{model}\""),
    )
}

fn shipped_model_text() -> String {
    std::fs::read_to_string(root().join("workloads/llm/configs/deepseek-v4.1-flash.toml")).unwrap()
}

/// stdout and the summary CSV of `memwall run ARGS --csv dir/out.csv`, run in `dir`.
fn run_ok(dir: &Path, args: &[&str]) -> (String, String) {
    let csv = dir.join("out.csv");
    let mut all: Vec<&str> = vec!["run"];
    all.extend(args);
    all.extend(["--csv", csv.to_str().unwrap()]);
    let out = memwall(dir, &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::remove_file(&csv).unwrap();
    (String::from_utf8(out.stdout).unwrap(), text)
}

#[test]
fn a_model_file_at_another_path_gives_the_same_output_as_the_shipped_name() {
    let d = tmp("copy");
    std::fs::create_dir_all(d.join("models")).unwrap();
    std::fs::write(d.join("models/flash-copy.toml"), shipped_model_text()).unwrap();
    std::fs::create_dir_all(d.join("scenarios")).unwrap();
    std::fs::write(
        d.join("scenarios/by-path.toml"),
        default_with_model("../models/flash-copy.toml"),
    )
    .unwrap();
    // Run from another folder: the path is taken from the scenario's folder.
    let shipped = run_ok(&d, &[]);
    let by_path = run_ok(
        &root(),
        &[d.join("scenarios/by-path.toml").to_str().unwrap()],
    );
    assert_eq!(shipped, by_path);

    // --models adds a name; the same model under it gives the same output.
    std::fs::write(d.join("by-name.toml"), default_with_model("flash-copy")).unwrap();
    let by_name = run_ok(&d, &["by-name.toml", "--models", "models"]);
    assert_eq!(shipped, by_name);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn shipped_scenarios_run_by_name_from_any_folder() {
    let d = tmp("names");
    let by_name = run_ok(&d, &["default"]);
    let by_file = run_ok(&root(), &["scenarios/default.toml"]);
    assert_eq!(by_name, by_file);
    let out = memwall(&d, &["run", "no-such-scenario"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-scenario") && err.contains("engram-paper-h800"),
        "{err}"
    );
    assert!(
        !err.contains("study-v41-flash-engram"),
        "a sweep is not a scenario: {err}"
    );
    let out = memwall(&d, &["run", "study-v41-flash-engram"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("memwall sweep scenarios/study-v41-flash-engram.toml"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_malformed_model_file_is_named_with_line_field_and_hint() {
    let d = tmp("bad");
    let bad = shipped_model_text().replace("num_layers = 40", "num_layers = \"forty\"");
    assert_ne!(
        bad,
        shipped_model_text(),
        "the shipped file changed: update this test"
    );
    std::fs::write(d.join("broken.toml"), bad).unwrap();
    std::fs::write(d.join("s.toml"), default_with_model("broken.toml")).unwrap();
    let out = memwall(&d, &["run", "s.toml", "--csv", "out.csv"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.toml:"), "{err}");
    assert!(
        err.contains("field `num_layers`") && err.contains("hint:"),
        "{err}"
    );
    assert!(!d.join("out.csv").exists(), "no output after an error");

    // The same file through --models fails at start-up, naming it.
    let out = memwall(&d, &["run", "--models", "broken.toml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.toml:") && err.contains("num_layers"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

/// A scenario serving the fixture's 40 measured vLLM requests (copied beside it as
/// `requests.jsonl`) on one H200, with two warm-up requests and a TTFT objective.
fn jsonl_scenario(d: &Path, request_file: &str) -> PathBuf {
    let text = format!(
        "name = \"fixture-40\"\nseed = 1\nsystem = \"hgx-h200\"\nmodel = \"qwen3-4b-dense\"\n\
         [workload]\nkind = \"jsonl\"\nfile = \"{request_file}\"\n\
         [metrics]\nwarmup_requests = 2\nslo_ttft = \"1 s\"\n\
         [engine]\nreplicas = 1\nmax_num_seqs = 128\nmax_batched_tokens = 2048\n"
    );
    let p = d.join("fixture.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn fixture_requests() -> String {
    std::fs::read_to_string(
        root().join("tests/fixtures/vllm-rtxpro6000-llama-3.1-8b-requests-40.jsonl"),
    )
    .unwrap()
}

#[test]
fn run_out_writes_requests_summary_steps_and_plots() {
    let d = tmp("out");
    std::fs::write(d.join("requests.jsonl"), fixture_requests()).unwrap();
    let scen = jsonl_scenario(&d, "requests.jsonl");
    let out = d.join("out");
    let o = memwall(
        &root(),
        &[
            "run",
            scen.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8(o.stdout).unwrap();
    assert!(stdout.contains("40 served, 38 measured"), "{stdout}");
    assert!(stdout.contains("TTFT") && stdout.contains("goodput (TTFT <= 1000 ms)"));

    let csv = std::fs::read_to_string(out.join("requests.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "id,arrival_s,input_tokens,output_tokens,queue_ms,ttft_ms,tpot_ms,e2e_ms,measured"
    );
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|f| f.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 40);
    // The fixture's first request: 2358 prompt tokens, 531 output tokens, at t = 0.
    assert_eq!(&rows[0][..4], &[0.0, 0.0, 2358.0, 531.0]);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], i as f64);
        assert_eq!(r[8], if i < 2 { 0.0 } else { 1.0 });
        // queue <= TTFT <= end-to-end; TPOT x (output - 1) = e2e - TTFT.
        assert!(r[4] <= r[5] && r[5] <= r[7], "{r:?}");
        let decode = r[6] * (r[3] - 1.0);
        assert!((decode - (r[7] - r[5])).abs() < 1e-3 * r[3] + 1e-3, "{r:?}");
    }
    let measured: Vec<&Vec<f64>> = rows.iter().filter(|r| r[8] == 1.0).collect();
    let mean_ttft = measured.iter().map(|r| r[5]).sum::<f64>() / measured.len() as f64;

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(json["requests"]["served"], 40);
    assert_eq!(json["requests"]["measured"], 38);
    let ttft = &json["latency"]["ttft"];
    assert!(
        (ttft["mean_ms"].as_f64().unwrap() - mean_ttft).abs() < 1e-3,
        "{ttft}"
    );
    assert!(ttft["p50_ms"].as_f64().unwrap() <= ttft["p99_ms"].as_f64().unwrap());
    assert!(json["goodput"]["good_requests"].as_u64().unwrap() <= 38);
    assert!(json["throughput"]["tokens_per_s"].as_f64().unwrap() > 0.0);
    assert!(json["throughput_penalty_pct"].is_null());

    let batches = std::fs::read_to_string(out.join("batches.csv")).unwrap();
    assert!(batches.starts_with("step,kind,start_s,step_ms,tokens,seqs,waiting,"));
    assert!(batches.lines().count() > 100, "one row per step");
    assert!(out.join("steps.csv").exists() && out.join("summary.csv").exists());
    for plot in ["ttft-cdf", "tpot-cdf", "batch-timeline"] {
        let png = std::fs::read(out.join(format!("{plot}.png"))).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{plot}");
        let svg = std::fs::read_to_string(out.join(format!("{plot}.svg"))).unwrap();
        assert!(svg.contains("<svg"), "{plot}");
    }
    let svg = std::fs::read_to_string(out.join("ttft-cdf.svg")).unwrap();
    assert!(svg.contains("requests at or below (%)"));
    // Without Engram there are no Engram layers to draw.
    assert!(!out.join("engram-layers.png").exists());
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn run_out_refuses_to_overwrite_the_request_file() {
    let d = tmp("clash");
    std::fs::create_dir_all(d.join("out")).unwrap();
    // The request file is where --out would write requests.csv.
    std::fs::write(d.join("out/requests.csv"), fixture_requests()).unwrap();
    let scen = jsonl_scenario(&d, "out/requests.csv");
    let out = d.join("out");
    let o = memwall(
        &root(),
        &[
            "run",
            scen.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success());
    assert!(err.contains("would destroy the input"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.join("out/requests.csv")).unwrap(),
        fixture_requests()
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_bad_request_file_is_an_error_with_file_line_and_field() {
    let d = tmp("bad-requests");
    let good = fixture_requests();
    let first: Vec<&str> = good.lines().take(3).collect();
    let cases = [
        (
            first[2].replace("\"input_toks\": 1320", "\"input_toks\": -1320"),
            "requests.jsonl:3: field `input_toks` = -1320: a length cannot be negative",
        ),
        (
            first[2].replace("\"output_toks\": 769, ", ""),
            "requests.jsonl:3: field `output_toks` is missing",
        ),
        (
            first[2].replace('}', ""),
            "requests.jsonl:3: not a JSON object",
        ),
    ];
    for (bad, want) in cases {
        let text = format!("{}\n{}\n{bad}\n", first[0], first[1]);
        std::fs::write(d.join("requests.jsonl"), text).unwrap();
        let scen = jsonl_scenario(&d, "requests.jsonl");
        let out = d.join("out");
        let o = memwall(
            &root(),
            &[
                "run",
                scen.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ],
        );
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{bad}");
        assert!(err.contains(want), "{bad}:\n{err}");
        assert!(!out.exists(), "nothing is written on an error");
    }
    std::fs::remove_dir_all(&d).unwrap();
}
