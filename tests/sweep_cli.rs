//! End-to-end: a resumed sweep reuses finished cells only while the user's profiles are
//! the same (cell keys fold in a digest of the user's profiles and models).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the sweep in `dir` and returns its summary line (`... N reused, M ran ...`).
fn sweep(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_memwall"))
        .current_dir(dir)
        .args([
            "sweep",
            "s.toml",
            "--out",
            "out",
            "--threads",
            "1",
            "--quiet",
        ])
        .output()
        .expect("run memwall");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err.lines()
        .find(|l| l.contains("reused"))
        .unwrap_or_default()
        .to_string()
}

const SWEEP: &str = r#"
[sweep]
name = "t"
runner = "engram-fetch"
profiles = ["my-h200.toml"]
[base]
system = "my-h200"
steps = 2
[base.model]
layers = 2
compute_per_layer = "60 us"
[base.batch]
tokens = 16
[base.engram]
placement = "host-dram"
rows_per_token = 32
[[axis]]
key = "engram.prefetch_layers"
values = [0, 1]
"#;

#[test]
fn cached_cells_are_not_reused_after_a_user_profile_changes() {
    let d = std::env::temp_dir().join(format!("memwall-sweep-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    let shipped =
        std::fs::read_to_string(root().join("hw-profiles/systems/hgx-h200.toml")).unwrap();
    let mine = shipped.replacen("name = \"hgx-h200\"", "name = \"my-h200\"", 1);
    assert_ne!(
        mine, shipped,
        "the shipped profile changed: update this test"
    );
    std::fs::write(d.join("my-h200.toml"), &mine).unwrap();
    std::fs::write(d.join("s.toml"), SWEEP).unwrap();

    assert!(sweep(&d).contains("0 reused, 2 ran"));
    assert!(sweep(&d).contains("2 reused, 0 ran"));
    // Any change to the profile's text makes its cells stale.
    std::fs::write(d.join("my-h200.toml"), format!("{mine}\n# edited\n")).unwrap();
    let again = sweep(&d);
    assert!(again.contains("0 reused, 2 ran"), "{again}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// The shipped latency-throughput sweep: every cell reports request latency, and each
/// system's TTFT p99 curve, traced along the concurrency, rises once the GPU saturates
/// (the highest concurrency waits longer than the lowest).
#[test]
fn latency_throughput_sweep_draws_curves_along_the_concurrency() {
    let d = std::env::temp_dir().join(format!("memwall-sweep-lt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    let out = Command::new(env!("CARGO_BIN_EXE_memwall"))
        .args(["sweep", "--quiet", "--threads", "2", "--out"])
        .arg(&d)
        .arg(root().join("scenarios/latency-throughput.toml"))
        .output()
        .expect("run memwall");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cells = std::fs::read_to_string(d.join("cells.csv")).unwrap();
    let mut lines = cells.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |n: &str| {
        head.iter()
            .position(|h| *h == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let (sys, conc, ttft) = (
        col("system"),
        col("workload.concurrency"),
        col("ttft_p99_ms"),
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 15);
    for s in ["dgx-h100", "hgx-h200", "hgx-b200"] {
        let t = |c: &str| -> f64 {
            let r = rows.iter().find(|r| r[sys] == s && r[conc] == c).unwrap();
            r[ttft].parse().unwrap()
        };
        assert!(
            t("256") > 10.0 * t("1"),
            "{s}: TTFT p99 {} vs {}",
            t("256"),
            t("1")
        );
    }
    for n in ["chart-1-tpot_p50", "chart-2-tpot_p99", "chart-3-ttft_p99"] {
        assert!(d.join(format!("plots/{n}.png")).is_file(), "{n}");
    }
    std::fs::remove_dir_all(&d).unwrap();
}
