//! `memwall fabric` end to end: the EP64 all-to-all of one DeepSeek-V3 layer over part
//! of the H800 cluster, whole-cluster against aggregate; a user fabric profile that
//! oversubscribes the spines makes them the bottleneck, and the output says so.

use std::process::Command;

fn memwall() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memwall"))
}

fn run(args: &[&str], profiles: Option<&std::path::Path>) -> String {
    let mut c = memwall();
    c.arg("fabric").args(args);
    if let Some(p) = profiles {
        c.arg("--profiles").arg(p);
    }
    let o = c.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

/// The ratio column of a phase's line.
fn ratio(out: &str, phase: &str) -> f64 {
    let line = out.lines().find(|l| l.starts_with(phase)).unwrap();
    line.split_whitespace().nth(7).unwrap().parse().unwrap()
}

#[test]
fn packed_groups_agree_with_the_aggregate_model() {
    let out = run(&["--nodes", "8", "--tokens", "1024"], None);
    assert!(out.contains("64 GPUs in 1 EP groups"), "{out}");
    assert!(out.contains("multi-plane-fat-tree, 8 planes"), "{out}");
    for phase in ["dispatch", "combine"] {
        let r = ratio(&out, phase);
        assert!((r - 1.0).abs() <= 0.05, "{phase} {r}\n{out}");
    }
    assert!(out.contains("agree (bottleneck: NIC"), "{out}");
    // Same seed, same output.
    assert_eq!(run(&["--nodes", "8", "--tokens", "1024"], None), out);
}

#[test]
fn an_oversubscribed_spine_is_named_as_the_bottleneck() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = include_str!("../hw-profiles/networks/ib-ndr-mpft.toml");
    // The user's own MPFT: 8-port leaves with one port up (7:1).
    let user = shipped
        .replace(
            r#"switch_radix = { value = 64, basis = "spec", source = "R16 §5.2.1", tag = "O" }"#,
            r#"switch_radix = { value = 8, basis = "user", source = "what-if" }"#,
        )
        .replace(
            "leaf_uplinks = { value = 32,",
            "leaf_uplinks = { value = 1,",
        );
    assert_ne!(user, shipped);
    std::fs::write(dir.path().join("ib-ndr-mpft.toml"), user).unwrap();
    let args = ["--nodes", "16", "--tokens", "512", "--spread"];
    let out = run(&args, Some(dir.path()));
    assert!(out.contains("oversubscription 7.00:1"), "{out}");
    assert!(ratio(&out, "dispatch") > 1.3, "{out}");
    assert!(
        out.contains("differ: bottleneck leaf to spine")
            || out.contains("differ: bottleneck spine to leaf"),
        "{out}"
    );
}

#[test]
fn a_system_without_a_cluster_is_refused_with_a_hint() {
    let o = memwall()
        .args(["fabric", "--system", "dgx-h100"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("has no [cluster]"), "{err}");
}
