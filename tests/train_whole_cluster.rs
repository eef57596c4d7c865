//! `memwall train --whole-cluster` end to end: a small MoE model (mhc-3b) in 4 DualPipe
//! stages of 32 GPUs (two EP16 groups each) over the H800 cluster's wired fabric writes
//! the aggregate mode's files, one rank row per lane (an EP group per pipeline rank, its
//! mirror group folded), and a step within a few percent of the aggregate mode's; a
//! system with no [cluster] is refused with the reason.

use std::path::{Path, PathBuf};
use std::process::Command;

const SHIPPED: &str = include_str!("../workloads/train/configs/deepseek-v3-h800.toml");

/// The shipped config with mhc-3b, PP4, 8 micro-batches of 1,024 tokens, EP16, DP32.
fn small_config(dir: &Path) -> PathBuf {
    let mut c = SHIPPED.replacen("model = \"deepseek-v3\"", "model = \"mhc-3b\"", 1);
    for (from, to) in [
        ("pp = 16", "pp = 4"),
        ("micro_batches = 120", "micro_batches = 8"),
        ("ep = 64", "ep = 16"),
        ("dp = 128", "dp = 32"),
        ("micro_batch_tokens = 4096", "micro_batch_tokens = 1024"),
        ("global_batch = 15360", ""),
        (
            "batch_ramp = { from_batch = 3072, tokens = 469e9, train_tokens = 14.8e12 }",
            "",
        ),
        ("sequence_length = 4096", ""),
    ] {
        assert!(c.contains(from), "{from}");
        c = c.replacen(from, to, 1);
    }
    let path = dir.join("small.toml");
    std::fs::write(&path, c).unwrap();
    path
}

fn train(extra: &[&str], out: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_memwall"))
        .args(["train", "--no-timeline", "--config"])
        .arg(small_config(out.parent().unwrap()))
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap()
}

/// The step time (ms) printed on the summary line.
fn step_ms(o: &std::process::Output) -> f64 {
    let s = String::from_utf8_lossy(&o.stdout);
    let at = s.find(": step ").unwrap() + ": step ".len();
    s[at..].split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn whole_cluster_writes_the_aggregate_files_and_agrees_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let (agg_dir, whole_dir) = (dir.path().join("agg"), dir.path().join("whole"));
    let agg = train(&[], &agg_dir);
    assert!(
        agg.status.success(),
        "{}",
        String::from_utf8_lossy(&agg.stderr)
    );
    let whole = train(&["--whole-cluster"], &whole_dir);
    assert!(
        whole.status.success(),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    for f in ["ranks.csv", "categories.csv", "breakdown.csv", "gantt.png"] {
        assert!(whole_dir.join(f).is_file(), "{f}");
    }
    let ranks = std::fs::read_to_string(whole_dir.join("ranks.csv")).unwrap();
    assert_eq!(ranks.lines().count(), 1 + 4, "{ranks}");
    let ratio = step_ms(&whole) / step_ms(&agg);
    assert!((ratio - 1.0).abs() < 0.03, "{ratio}");
}

#[test]
fn whole_cluster_needs_a_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let o = train(
        &["--whole-cluster", "--system", "dgx-h100"],
        &dir.path().join("out"),
    );
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("has no [cluster]"), "{err}");
}
