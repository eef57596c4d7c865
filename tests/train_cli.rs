//! `memwall train` end to end: system profiles (shipped and user), user models (by path
//! and with `--models`), outputs, Gantt plot.

use std::path::Path;
use std::process::Command;

const SHIPPED_TRAIN: &str = include_str!("../workloads/train/configs/deepseek-v3-h800.toml");
const SHIPPED_MODEL: &str = include_str!("../workloads/llm/configs/deepseek-v3.toml");
const CSVS: [&str; 3] = ["timeline.csv", "ranks.csv", "categories.csv"];

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
        for row in ["rank0/compute", "rank3/ep-comm", "pp-p2p", "ep-dispatch"] {
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

/// `memwall train --pp 4 --micro-batches 8 --config CONFIG --out OUT [extra]`, run from
/// `cwd`; panics with stderr unless it succeeds.
fn train_small(cwd: &Path, config: &str, out: &Path, extra: &[&str]) {
    let o = memwall()
        .current_dir(cwd)
        .args([
            "train",
            "--pp",
            "4",
            "--micro-batches",
            "8",
            // PP4 of V3 needs 156 GB per GPU: a B200 holds it, an H800 does not.
            "--system",
            "hgx-b200",
            "--config",
            config,
        ])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The shipped training config with its `model = "deepseek-v3"` line replaced.
fn train_config_with_model(model: &str) -> String {
    let user = SHIPPED_TRAIN.replacen(
        "model = \"deepseek-v3\"",
        &format!("model = \"{model}\""),
        1,
    );
    assert_ne!(user, SHIPPED_TRAIN);
    user
}

#[test]
fn a_model_path_in_a_user_training_config_gives_the_shipped_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("cfg/models")).unwrap();
    std::fs::create_dir_all(d.join("elsewhere")).unwrap();
    std::fs::write(d.join("cfg/models/dsv3.toml"), SHIPPED_MODEL).unwrap();
    // Relative to the training config's folder, not to the working directory.
    std::fs::write(
        d.join("cfg/train.toml"),
        train_config_with_model("models/dsv3.toml"),
    )
    .unwrap();
    let cwd = d.join("elsewhere");
    train_small(&cwd, "deepseek-v3-h800", &d.join("shipped"), &[]);
    let user_cfg = d.join("cfg/train.toml");
    train_small(&cwd, user_cfg.to_str().unwrap(), &d.join("user"), &[]);
    for f in CSVS {
        assert!(
            read(&d.join("shipped").join(f)) == read(&d.join("user").join(f)),
            "{f} differs"
        );
    }
}

#[test]
fn models_folder_adds_and_a_models_file_overrides_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let added = d.join("added");
    std::fs::create_dir(&added).unwrap();
    std::fs::write(added.join("my-v3.toml"), SHIPPED_MODEL).unwrap();
    let bigger_vocab = SHIPPED_MODEL.replace("vocab_size = 129280", "vocab_size = 259280");
    assert_ne!(bigger_vocab, SHIPPED_MODEL);
    let over = d.join("over");
    std::fs::create_dir(&over).unwrap();
    std::fs::write(over.join("deepseek-v3.toml"), bigger_vocab).unwrap();
    std::fs::write(d.join("train.toml"), train_config_with_model("my-v3")).unwrap();
    let added = added.to_str().unwrap();
    let over_file = over.join("deepseek-v3.toml");
    train_small(d, "deepseek-v3-h800", &d.join("shipped"), &[]);
    // Added by name: a copy of the shipped file under a new name, same outputs.
    train_small(d, "train.toml", &d.join("mine"), &["--models", added]);
    for f in CSVS {
        assert!(
            read(&d.join("shipped").join(f)) == read(&d.join("mine").join(f)),
            "{f} differs"
        );
    }
    // Overridden by name (--models repeated, a folder and a file): the larger vocabulary
    // adds embedding and LM-head parameters to the first and last ranks.
    let over_file = over_file.to_str().unwrap();
    let args = ["--models", added, "--models", over_file];
    train_small(d, "deepseek-v3-h800", &d.join("overridden"), &args);
    let ranks = |run: &str| read(&d.join(run).join("ranks.csv"));
    assert!(ranks("overridden") != ranks("shipped"));
}

#[test]
fn a_malformed_model_file_is_named_with_line_field_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let broken = SHIPPED_MODEL.replace("num_layers = 61", "num_layers = \"sixty-one\"");
    assert_ne!(broken, SHIPPED_MODEL);
    std::fs::write(d.join("broken.toml"), broken).unwrap();
    std::fs::write(d.join("train.toml"), train_config_with_model("broken.toml")).unwrap();
    let out = d.join("out");
    let o = memwall()
        .current_dir(d)
        .args([
            "train",
            "--pp",
            "4",
            "--micro-batches",
            "8",
            "--config",
            "train.toml",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(e.contains("broken.toml:6:"), "file and line: {e}");
    assert!(e.contains("field `num_layers`"), "field: {e}");
    assert!(e.contains("hint:"), "hint: {e}");
    assert!(!out.exists(), "nothing written");
}

/// `breakdown.csv`: per rank the eight categories, summing to the step of `ranks.csv`.
#[test]
fn breakdown_csv_sums_to_the_step_per_rank() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let o = memwall()
        .args([
            "train",
            "--pp",
            "4",
            "--micro-batches",
            "8",
            "--system",
            "hgx-b200",
        ])
        .args(["--no-timeline", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("overlapped_fb") && stdout.contains("GPU-hours"),
        "{stdout}"
    );
    let csv = std::fs::read_to_string(out.join("breakdown.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("rank,category,seconds"));
    let mut sums = [0.0f64; 4];
    let mut cats = Vec::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        let r: usize = f[0].parse().unwrap();
        sums[r] += f[2].parse::<f64>().unwrap();
        if r == 0 {
            cats.push(f[1].to_string());
        }
    }
    let want = [
        "forward",
        "backward_input",
        "backward_weight",
        "overlapped_fb",
        "bubble",
        "dp_comm_exposed",
        "optimizer",
        "other",
    ];
    assert_eq!(cats, want);
    let ranks = std::fs::read_to_string(out.join("ranks.csv")).unwrap();
    let step_ms: f64 = ranks
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    for (r, s) in sums.iter().enumerate() {
        // Eight values rounded to the microsecond.
        assert!(
            (s * 1e3 - step_ms).abs() < 0.01,
            "rank {r}: {s} s vs {step_ms} ms"
        );
    }
}

/// A step that does not fit in HBM fails before writing, naming rank, stage and sizes.
#[test]
fn a_step_that_does_not_fit_names_the_stage_and_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let o = memwall()
        .args(["train", "--mhc", "4", "--recompute", "none", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!o.status.success());
    let e = String::from_utf8_lossy(&o.stderr);
    for part in ["rank", "stage", "GB of HBM", "activations", "hint"] {
        assert!(e.contains(part), "{part}: {e}");
    }
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing written"
    );
}
