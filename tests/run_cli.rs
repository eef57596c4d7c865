//! End-to-end: `memwall run` with shipped scenarios by name, and with user models (a
//! path in the scenario, or `--models`), which must give what the shipped model gives.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn memwall(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memwall"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run memwall")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memwall-run-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The shipped default scenario with `model = ...` replaced.
fn default_with_model(model: &str) -> String {
    let text = std::fs::read_to_string(root().join("scenarios/default.toml")).unwrap();
    text.replace(
        "model = \"deepseek-v4.1-flash\"",
        &format!("model = \"{model}\""),
    )
}

fn shipped_model_text() -> String {
    std::fs::read_to_string(root().join("workloads/llm/configs/deepseek-v4.1-flash.toml")).unwrap()
}

/// stdout and the summary CSV of `memwall run ARGS --csv dir/out.csv`, run in `dir`.
fn run_ok(dir: &Path, args: &[&str]) -> (String, String) {
    let csv = dir.join("out.csv");
    let mut all: Vec<&str> = vec!["run"];
    all.extend(args);
    all.extend(["--csv", csv.to_str().unwrap()]);
    let out = memwall(dir, &all);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    std::fs::remove_file(&csv).unwrap();
    (String::from_utf8(out.stdout).unwrap(), text)
}

#[test]
fn a_model_file_at_another_path_gives_the_same_output_as_the_shipped_name() {
    let d = tmp("copy");
    std::fs::create_dir_all(d.join("models")).unwrap();
    std::fs::write(d.join("models/flash-copy.toml"), shipped_model_text()).unwrap();
    std::fs::create_dir_all(d.join("scenarios")).unwrap();
    std::fs::write(
        d.join("scenarios/by-path.toml"),
        default_with_model("../models/flash-copy.toml"),
    )
    .unwrap();
    // Run from another folder: the path is taken from the scenario's folder.
    let shipped = run_ok(&d, &[]);
    let by_path = run_ok(
        &root(),
        &[d.join("scenarios/by-path.toml").to_str().unwrap()],
    );
    assert_eq!(shipped, by_path);

    // --models adds a name; the same model under it gives the same output.
    std::fs::write(d.join("by-name.toml"), default_with_model("flash-copy")).unwrap();
    let by_name = run_ok(&d, &["by-name.toml", "--models", "models"]);
    assert_eq!(shipped, by_name);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn shipped_scenarios_run_by_name_from_any_folder() {
    let d = tmp("names");
    let by_name = run_ok(&d, &["default"]);
    let by_file = run_ok(&root(), &["scenarios/default.toml"]);
    assert_eq!(by_name, by_file);
    let out = memwall(&d, &["run", "no-such-scenario"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-scenario") && err.contains("engram-paper-h800"),
        "{err}"
    );
    assert!(
        !err.contains("study-v41-flash-engram"),
        "a sweep is not a scenario: {err}"
    );
    let out = memwall(&d, &["run", "study-v41-flash-engram"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("memwall sweep scenarios/study-v41-flash-engram.toml"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_malformed_model_file_is_named_with_line_field_and_hint() {
    let d = tmp("bad");
    let bad = shipped_model_text().replace("num_layers = 40", "num_layers = \"forty\"");
    assert_ne!(
        bad,
        shipped_model_text(),
        "the shipped file changed: update this test"
    );
    std::fs::write(d.join("broken.toml"), bad).unwrap();
    std::fs::write(d.join("s.toml"), default_with_model("broken.toml")).unwrap();
    let out = memwall(&d, &["run", "s.toml", "--csv", "out.csv"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.toml:"), "{err}");
    assert!(
        err.contains("field `num_layers`") && err.contains("hint:"),
        "{err}"
    );
    assert!(!d.join("out.csv").exists(), "no output after an error");

    // The same file through --models fails at start-up, naming it.
    let out = memwall(&d, &["run", "--models", "broken.toml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken.toml:") && err.contains("num_layers"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}
