//! `memwall calibrate` end to end: nvbandwidth output in, a host-link override out,
//! and `memwall probe --profiles` then runs on the calibrated number.

use std::process::Command;

fn memwall(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memwall"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn nvbandwidth_override_feeds_probe() {
    let dir = std::env::temp_dir().join(format!("memwall-calibrate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("nvb.txt");
    std::fs::write(
        &input,
        "Running host_to_device_memcpy_ce.\nmemcpy CE CPU(row) -> GPU(column) bandwidth (GB/s)\n           0         1\n 0     40.00     40.00\n\nSUM host_to_device_memcpy_ce 80.00\n",
    )
    .unwrap();
    let out = dir.join("cal");
    let (ok, stdout, stderr) = memwall(&[
        "calibrate",
        "--system",
        "dgx-h100",
        "--nvbandwidth",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("host_to_device_memcpy_ce"), "{stdout}");
    assert!(stdout.contains("pcie-gen5-x16.toml"), "{stdout}");
    let (ok, csv, stderr) = memwall(&[
        "probe",
        "--system",
        "dgx-h100",
        "--profiles",
        out.to_str().unwrap(),
        "h2d",
        "--csv",
        "-",
    ]);
    assert!(ok, "{stderr}");
    let last = csv.lines().last().unwrap();
    let bw: f64 = last.split(',').nth(2).unwrap().parse().unwrap();
    assert!((39.0..=40.0).contains(&bw), "{last}");
    let (ok, _, stderr) = memwall(&[
        "calibrate",
        "--system",
        "dgx-h100",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!ok && stderr.contains("nothing to calibrate"), "{stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}
