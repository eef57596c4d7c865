//! `memwall train` end to end: system profiles (shipped and user), outputs, Gantt plot.

use std::process::Command;

fn memwall() -> Command {
    Command::new(env!("CARGO_BIN_EXE_memwall"))
}

#[test]
fn train_writes_csvs_and_gantt_on_a_user_profile() {
    let dir = tempfile::tempdir().unwrap();
    // A what-if user profile: HGX B200 with 800G CX-8 NICs instead of 400G CX-7.
    let shipped = include_str!("../hw-profiles/systems/hgx-b200.toml");
    let user = shipped
        .replace("name = \"hgx-b200\"", "name = \"hgx-b200-cx8\"")
        .replace("nic = \"connectx-7\"", "nic = \"connectx-8\"");
    assert_ne!(user, shipped);
    let prof = dir.path().join("profiles");
    std::fs::create_dir(&prof).unwrap();
    std::fs::write(prof.join("hgx-b200-cx8.toml"), user).unwrap();
    let out = dir.path().join("out");
    let o = memwall()
        .args(["train", "--pp", "4", "--micro-batches", "8", "--system"])
        .arg("hgx-b200,hgx-b200-cx8")
        .arg("--profiles")
        .arg(&prof)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for sys in ["hgx-b200", "hgx-b200-cx8"] {
        for f in ["timeline.csv", "ranks.csv", "categories.csv", "gantt.png"] {
            assert!(out.join(sys).join(f).is_file(), "{sys}/{f}");
        }
        let svg = std::fs::read_to_string(out.join(sys).join("gantt.svg")).unwrap();
        for row in [
            "rank0/compute",
            "rank3/ep-comm",
            "rank2/pp-p2p",
            "ep-dispatch",
        ] {
            assert!(svg.contains(row), "{sys}: gantt.svg lacks {row}");
        }
    }
    let csv = std::fs::read_to_string(out.join("systems.csv")).unwrap();
    let step = |name: &str| -> f64 {
        let line = csv
            .lines()
            .find(|l| l.starts_with(&format!("{name},")))
            .unwrap();
        line.split(',').nth(5).unwrap().parse().unwrap()
    };
    // Twice the NIC bandwidth shortens a NIC-bound B200 step.
    assert!(step("hgx-b200-cx8") < step("hgx-b200"), "{csv}");
}

#[test]
fn train_names_unknown_systems_and_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let o = memwall()
        .args(["train", "--system", "tpu-v5", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("tpu-v5") && e.contains("gb300-nvl72"), "{e}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}
