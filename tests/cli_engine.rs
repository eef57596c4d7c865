//! End-to-end tests of the binary: profiles and probes (issue "The engine").

use std::process::Command;

fn memwall(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memwall"))
        .args(args)
        .output()
        .expect("run memwall");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("memwall-e2e-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn every_shipped_profile_validates() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/hw-profiles");
    let (rc, out, err) = memwall(&["profiles", "validate", root]);
    assert_eq!(rc, 0, "{out}{err}");
    let (rc, out, _) = memwall(&["profiles", "list"]);
    assert_eq!(rc, 0);
    for name in [
        "deepseek-h800-node",
        "dgx-h100",
        "hgx-h200",
        "hgx-b200",
        "gb200-nvl72",
        "gb300-nvl72",
        "vr200-nvl72",
        "deepseek-h800-cluster",
    ] {
        assert!(out.contains(name), "{name} missing from list");
    }
    let (rc, out, _) = memwall(&["profiles", "show", "h800"]);
    assert_eq!(rc, 0);
    assert!(
        out.contains("measured") || out.contains("peak"),
        "show names the basis: {out}"
    );
}

#[test]
fn h2d_probe_reproduces_measured_h100_pcie_within_3_percent() {
    // hardware.md §4: H100 Gen5 node, nvbandwidth CE, pinned H2D 55.4 GB/s (large transfers).
    let (rc, out, err) = memwall(&["probe", "--system", "dgx-h100", "h2d", "--csv", "-"]);
    assert_eq!(rc, 0, "{err}");
    let rows: Vec<Vec<f64>> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    let largest = rows.last().unwrap();
    assert!(
        (largest[2] - 55.4).abs() / 55.4 < 0.03,
        "large-transfer H2D {} GB/s",
        largest[2]
    );
    // The latency-bound region: 4 KiB gets a small fraction of the link.
    let smallest = &rows[0];
    assert_eq!(smallest[0], 4096.0);
    assert!(
        smallest[2] < 0.1 * largest[2],
        "4 KiB is latency-bound: {} GB/s",
        smallest[2]
    );
    // Bandwidth rises monotonically with size.
    assert!(rows.windows(2).all(|w| w[1][2] >= w[0][2]));
}

#[test]
fn gather_probe_shows_per_transaction_cost() {
    let (rc, out, err) = memwall(&[
        "probe",
        "--system",
        "dgx-h100",
        "gather",
        "--row-bytes",
        "264",
        "--csv",
        "-",
    ]);
    assert_eq!(rc, 0, "{err}");
    let last: Vec<f64> = out
        .lines()
        .last()
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap())
        .collect();
    let (gather, bulk) = (last[4], last[6]);
    // 264-byte rows cost 5 whole 64-byte sectors: 82.5% of the bulk rate.
    let ratio = gather / bulk;
    assert!((ratio - 0.825).abs() < 0.01, "gather/bulk = {ratio}");
}

#[test]
fn probes_run_on_every_kind_and_csv_is_byte_identical() {
    let d = tmp("probe");
    for kind in ["h2d", "d2h", "d2d", "gather", "nvme", "hbm"] {
        let a = d.join(format!("{kind}-a.csv"));
        let b = d.join(format!("{kind}-b.csv"));
        for p in [&a, &b] {
            let system = if kind == "nvme" {
                "dgx-h100"
            } else {
                "deepseek-h800-node"
            };
            let (rc, _, err) = memwall(&[
                "probe",
                "--system",
                system,
                kind,
                "--csv",
                p.to_str().unwrap(),
            ]);
            assert_eq!(rc, 0, "{kind}: {err}");
        }
        assert_eq!(
            std::fs::read(&a).unwrap(),
            std::fs::read(&b).unwrap(),
            "{kind} CSV differs between runs"
        );
    }
    std::fs::remove_dir_all(&d).ok();
}

#[test]
fn bad_profiles_fail_with_file_line_field_and_hint() {
    let d = tmp("bad");
    let good = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/hw-profiles/gpus/h100-sxm.toml"
    ))
    .unwrap();
    let cases = [
        (
            "misspelt",
            good.replacen("kernel_launch", "kernel_lunch", 1),
            "kernel_lunch",
        ),
        (
            "nounit",
            good.replacen("\"1.85 us\"", "\"1.85\"", 1),
            "unit",
        ),
        (
            "wrongunit",
            good.replacen("\"1.85 us\"", "\"1.85 GB/s\"", 1),
            "time",
        ),
        (
            "negative",
            good.replacen("\"1.85 us\"", "\"-1.85 us\"", 1),
            "negative",
        ),
    ];
    for (name, text, needle) in cases {
        assert_ne!(text, good, "{name}: fixture edit did not apply");
        let f = d.join(format!("{name}.toml"));
        std::fs::write(&f, &text).unwrap();
        let (rc, out, err) = memwall(&["profiles", "validate", f.to_str().unwrap()]);
        assert_ne!(rc, 0, "{name} should fail: {out}");
        assert!(!err.contains("panicked"), "{name} panicked: {err}");
        assert!(
            err.contains(f.to_str().unwrap()),
            "{name}: no file name in {err}"
        );
        assert!(
            err.contains(":10:") || err.contains("line"),
            "{name}: no line in {err}"
        );
        assert!(
            err.to_lowercase().contains(needle),
            "{name}: expected `{needle}` in {err}"
        );
        assert!(err.contains("hint"), "{name}: no hint in {err}");
    }
    // A system that references an unknown GPU.
    let sys = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/hw-profiles/systems/dgx-h100.toml"
    ))
    .unwrap();
    let f = d.join("unknown-part.toml");
    std::fs::write(
        &f,
        sys.replace("gpu = \"h100-sxm\"", "gpu = \"h100-sxx\"")
            .replace("name = \"dgx-h100\"", "name = \"my-node\""),
    )
    .unwrap();
    let (rc, _, err) = memwall(&["profiles", "validate", f.to_str().unwrap()]);
    assert_ne!(rc, 0);
    assert!(err.contains("h100-sxx") && err.contains("hint"), "{err}");
    let (rc, _, err) = memwall(&["probe", "--system", "no-such-system", "h2d"]);
    assert_ne!(rc, 0);
    assert!(err.contains("dgx-h100"), "lists known systems: {err}");
    std::fs::remove_dir_all(&d).ok();
}
