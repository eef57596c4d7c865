//! End-to-end: `memwall replay` writes identical bytes twice, and bad input gets a clear
//! error (exit 1, a message naming what to fix), never a panic.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/traces")
        .join(name)
}

fn memwall(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_memwall"))
        .args(args)
        .output()
        .expect("run memwall")
}

#[test]
fn replay_outputs_are_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let trace = fixture("hta-a100-ddp-nccl.json.gz");
    let mut outs = Vec::new();
    for k in 0..2 {
        let d = dir.path().join(format!("run{k}"));
        let o = memwall(&[
            "replay",
            trace.to_str().unwrap(),
            "--system",
            "dgx-h100",
            "--out",
            d.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).unwrap();
        // the last line names the output folder, which differs
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with("wrote ")).collect();
        outs.push((d, body.join("\n")));
    }
    assert_eq!(outs[0].1, outs[1].1);
    for f in [
        "replay.trace.json",
        "replay-summary.csv",
        "replay-comm.csv",
        "replay-attribution.csv",
        "replay-scaling.csv",
    ] {
        let a = std::fs::read(outs[0].0.join(f)).unwrap();
        let b = std::fs::read(outs[1].0.join(f)).unwrap();
        assert!(!a.is_empty(), "{f} empty");
        assert_eq!(a, b, "{f} differs between runs");
    }
    let trace = std::fs::read_to_string(outs[0].0.join("replay.trace.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&trace).unwrap();
    let names: Vec<&str> = v["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "process_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["original (hgx-a100)", "replay on dgx-h100"]);
}

fn fails_with(args: &[&str], needle: &str) {
    let o = memwall(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_inputs_get_clear_errors() {
    let b200 = fixture("tracelens-b200-vllm-prefill.json.gz");
    let b200 = b200.to_str().unwrap();
    fails_with(
        &["replay", b200, "--system", "no-such-system"],
        "no-such-system",
    );
    fails_with(&["replay", b200, "--source-gpu", "tpu-v9"], "tpu-v9");
    fails_with(&["replay", b200, "--network", "no-such-nic"], "no-such-nic");
    let bad = fixture("bad-truncated.json.gz");
    fails_with(&["replay", bad.to_str().unwrap()], "bad-truncated.json.gz");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("broken.json");
    std::fs::write(
        &p,
        b"{\"traceEvents\": [ {\"ph\": \"X\", \"dur\": -5, \"ts\": 1}",
    )
    .unwrap();
    fails_with(&["replay", p.to_str().unwrap()], "byte");
    let p = dir.path().join("cpu-only.json");
    std::fs::write(&p, b"{\"traceEvents\": []}").unwrap();
    fails_with(
        &["replay", p.to_str().unwrap(), "--source-gpu", "h800"],
        "no GPU ops",
    );
    fails_with(&["replay", p.to_str().unwrap()], "--source-gpu");
}
