//! End to end: a captured Engram access trace (written by the Python hook) replayed by
//! `memwall run` (`[workload] kind = "engram-trace"`), its row reuse by `memwall trace
//! reuse`, and a corrupt trace refused with the file and byte offset (exit 1, no panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn memwall(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memwall"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run memwall")
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mwet/demo-engine-8req.mwet")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memwall-mwet-cli-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn scenario(dir: &Path, trace: &Path) {
    let text = format!(
        "system = \"deepseek-h800-node\"\nmodel = \"deepseek-v4.1-flash\"\n[workload]\n\
         kind = \"engram-trace\"\ntrace = \"{}\"\n[engine]\nexpert_parallel = 8\n[engram]\n\
         layout = \"demo\"\nplacement = \"host-zero-copy\"\n",
        trace.display()
    );
    std::fs::write(dir.join("replay.toml"), text).unwrap();
}

#[test]
fn memwall_run_replays_a_hook_trace() {
    let d = tmp("run");
    scenario(&d, &fixture());
    let o = memwall(&d, &["run", "replay.toml", "--out", "out"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let steps = std::fs::read_to_string(d.join("out/steps.csv")).unwrap();
    let header = steps.lines().next().unwrap();
    assert!(
        header.ends_with(",engine_step_us,engine_lookup_us"),
        "{header}"
    );
    // 24 steps x 2 Engram layers, each with the engine's lookup time.
    assert_eq!(steps.lines().count(), 1 + 48);
    assert!(steps.lines().skip(1).all(|l| !l.ends_with(',')), "{steps}");
    let json = std::fs::read_to_string(d.join("out/summary.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["trace_replay"]["steps"], 24);
    assert_eq!(v["trace_replay"]["row_ids"], 20416);
    assert!(v["memory"].as_array().unwrap().len() >= 5, "{json}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn trace_reuse_prints_both_distributions() {
    let d = tmp("reuse");
    let o = memwall(&d, &["trace", "reuse", fixture().to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        out.contains("20416 reads") && out.contains("never (first read)"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 2 + 6, "{out}");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_corrupt_trace_is_refused_with_file_and_offset() {
    let d = tmp("bad");
    let mut bytes = std::fs::read(fixture()).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0xff;
    std::fs::write(d.join("bad.mwet"), &bytes).unwrap();
    scenario(&d, &d.join("bad.mwet"));
    let o = memwall(&d, &["run", "replay.toml"]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("bad.mwet")
            && e.contains("byte offset")
            && e.contains("hint:")
            && !e.contains("panicked"),
        "{e}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}
