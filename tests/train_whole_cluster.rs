//! `memwall train --whole-cluster` end to end: the V3 config cut to 4 stages and 8
//! micro-batches over the H800 cluster's wired fabric writes the aggregate mode's files,
//! one rank row per lane (an EP group per pipeline rank, its mirror group folded), and a
//! step within a few percent of the aggregate mode's; a system with no [cluster] is
//! refused with the reason.

use std::process::Command;

fn train(extra: &[&str], out: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_memwall"))
        .args(["train", "--pp", "4", "--micro-batches", "8", "--no-timeline"])
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
    assert!(agg.status.success(), "{}", String::from_utf8_lossy(&agg.stderr));
    let whole = train(&["--whole-cluster"], &whole_dir);
    assert!(whole.status.success(), "{}", String::from_utf8_lossy(&whole.stderr));
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
    let o = train(&["--whole-cluster", "--system", "dgx-h100"], dir.path());
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("has no [cluster]"), "{err}");
}
