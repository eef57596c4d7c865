//! Golden outputs: what a user sees of the main commands stays byte-identical across
//! refactors. Each case runs the binary and compares its stdout and output files with
//! `tests/golden/<case>/`. Small files are kept whole (a mismatch shows the first differing
//! line); large ones and those derived from inputs that may not be redistributed (the
//! DeepSeek profile trace in `../shared/data`) are kept as SHA-256 (`<file>.sha256`).
//!
//! A deliberate change of output is re-recorded with `MEMWALL_BLESS=1 cargo test --release
//! --test golden` and named in the commit that makes it.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Files above this size are kept as a hash only.
const WHOLE_LIMIT: usize = 256 * 1024;

struct Case {
    name: &'static str,
    /// Arguments; `{out}` is replaced by the case's output folder.
    args: &'static [&'static str],
    /// Output files (relative to `{out}`) to compare, besides stdout.
    files: &'static [&'static str],
    /// Reads `../shared/data` (not redistributable): hashes only, and skipped without it
    /// unless under CI.
    shared: bool,
}

const CASES: &[Case] = &[
    // The longest first, so that the two workers finish together.
    Case {
        name: "study",
        args: &[
            "sweep",
            "scenarios/study-v41-flash-engram.toml",
            "--threads",
            "2",
            "--out",
            "{out}",
        ],
        files: &["sweep.csv", "summary.md"],
        shared: false,
    },
    Case {
        name: "run-default",
        args: &[
            "run",
            "--csv",
            "{out}/run.csv",
            "--steps-csv",
            "{out}/steps.csv",
        ],
        files: &["run.csv", "steps.csv"],
        shared: false,
    },
    Case {
        name: "run-paper",
        args: &[
            "run",
            "scenarios/engram-paper-h800.toml",
            "--csv",
            "{out}/run.csv",
            "--steps-csv",
            "{out}/steps.csv",
        ],
        files: &["run.csv", "steps.csv"],
        shared: false,
    },
    Case {
        name: "train-default",
        args: &["train", "--out", "{out}"],
        files: &[
            "ranks.csv",
            "categories.csv",
            "timeline.csv",
            "breakdown.csv",
        ],
        shared: false,
    },
    Case {
        name: "train-mhc4-b200",
        args: &[
            "train", "--mhc", "4", "--system", "hgx-b200", "--out", "{out}",
        ],
        files: &["ranks.csv", "categories.csv", "timeline.csv"],
        shared: false,
    },
    Case {
        name: "replay-hta-a100-on-h100",
        args: &[
            "replay",
            "tests/fixtures/traces/hta-a100-ddp-nccl.json.gz",
            "--system",
            "dgx-h100",
            "--out",
            "{out}",
        ],
        files: REPLAY_FILES,
        shared: false,
    },
    Case {
        name: "replay-tracelens-b200",
        args: &[
            "replay",
            "tests/fixtures/traces/tracelens-b200-vllm-prefill.json.gz",
            "--out",
            "{out}",
        ],
        files: REPLAY_FILES,
        shared: false,
    },
    Case {
        name: "replay-deepseek-v3-mhc4-engram",
        args: &[
            "replay",
            "../shared/data/deepseek-v3-train-h800.json",
            "--mhc",
            "4",
            "--engram-anchor",
            "attn",
            "--out",
            "{out}",
        ],
        files: REPLAY_FILES,
        shared: true,
    },
    Case {
        name: "probe-h2d",
        args: &[
            "probe",
            "--system",
            "dgx-h100",
            "h2d",
            "--csv",
            "{out}/probe.csv",
        ],
        files: &["probe.csv"],
        shared: false,
    },
    Case {
        name: "probe-gather",
        args: &[
            "probe",
            "--system",
            "hgx-h200",
            "gather",
            "--csv",
            "{out}/probe.csv",
        ],
        files: &["probe.csv"],
        shared: false,
    },
    Case {
        name: "probe-nvme",
        args: &[
            "probe",
            "--system",
            "dgx-h100",
            "nvme",
            "--csv",
            "{out}/probe.csv",
        ],
        files: &["probe.csv"],
        shared: false,
    },
    Case {
        name: "probe-d2d",
        args: &[
            "probe",
            "--system",
            "gb200-nvl72",
            "d2d",
            "--csv",
            "{out}/probe.csv",
        ],
        files: &["probe.csv"],
        shared: false,
    },
    Case {
        name: "probe-allreduce",
        args: &[
            "probe",
            "--system",
            "dgx-h100",
            "allreduce",
            "--csv",
            "{out}/probe.csv",
        ],
        files: &["probe.csv"],
        shared: false,
    },
    Case {
        name: "probe-hbm",
        args: &[
            "probe",
            "--system",
            "hgx-b200",
            "hbm",
            "--csv",
            "{out}/probe.csv",
        ],
        files: &["probe.csv"],
        shared: false,
    },
];

const REPLAY_FILES: &[&str] = &[
    "replay-summary.csv",
    "replay-comm.csv",
    "replay-attribution.csv",
    "replay-scaling.csv",
    "replay.trace.json",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn first_difference(want: &[u8], got: &[u8]) -> String {
    let (w, g) = (String::from_utf8_lossy(want), String::from_utf8_lossy(got));
    for (i, (a, b)) in w.lines().zip(g.lines()).enumerate() {
        if a != b {
            return format!("line {}:\n  want: {a}\n  got:  {b}", i + 1);
        }
    }
    format!(
        "lengths differ: want {} lines, got {}",
        w.lines().count(),
        g.lines().count()
    )
}

/// Compares (or, when blessing, records) one output. Returns a mismatch message.
fn check(dir: &Path, name: &str, got: &[u8], hash_only: bool, bless: bool) -> Option<String> {
    let whole = dir.join(name);
    let hashed = dir.join(format!("{name}.sha256"));
    if bless {
        let _ = std::fs::remove_file(&whole);
        let _ = std::fs::remove_file(&hashed);
        if hash_only || got.len() > WHOLE_LIMIT {
            std::fs::write(&hashed, format!("{}\n", sha256_hex(got))).unwrap();
        } else {
            std::fs::write(&whole, got).unwrap();
        }
        return None;
    }
    if let Ok(want) = std::fs::read(&whole) {
        return (want != got).then(|| format!("{name}: {}", first_difference(&want, got)));
    }
    match std::fs::read_to_string(&hashed) {
        Ok(want) if want.trim() == sha256_hex(got) => None,
        Ok(want) => Some(format!(
            "{name}: sha256 {} against the recorded {}",
            sha256_hex(got),
            want.trim()
        )),
        Err(_) => Some(format!("{name}: nothing recorded in {}", dir.display())),
    }
}

fn run_case(case: &Case, bless: bool) -> Vec<String> {
    let out = std::env::temp_dir().join(format!(
        "memwall-golden-{}-{}",
        std::process::id(),
        case.name
    ));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let outs = out.to_str().unwrap();
    let args: Vec<String> = case.args.iter().map(|a| a.replace("{out}", outs)).collect();
    let res = Command::new(env!("CARGO_BIN_EXE_memwall"))
        .current_dir(root())
        .args(&args)
        .output()
        .expect("run memwall");
    assert!(
        res.status.success(),
        "{}: memwall {} failed:\n{}",
        case.name,
        args.join(" "),
        String::from_utf8_lossy(&res.stderr)
    );
    let dir = root().join("tests/golden").join(case.name);
    std::fs::create_dir_all(&dir).unwrap();
    let stdout = String::from_utf8_lossy(&res.stdout).replace(outs, "{out}");
    let mut bad: Vec<String> = check(&dir, "stdout.txt", stdout.as_bytes(), case.shared, bless)
        .into_iter()
        .collect();
    for f in case.files {
        let got = std::fs::read(out.join(f)).unwrap_or_else(|e| panic!("{}: {f}: {e}", case.name));
        bad.extend(check(&dir, f, &got, case.shared, bless));
    }
    let _ = std::fs::remove_dir_all(&out);
    bad.into_iter()
        .map(|m| format!("{}: {m}", case.name))
        .collect()
}

#[test]
fn outputs_stay_byte_identical() {
    let bless = std::env::var_os("MEMWALL_BLESS").is_some();
    let ci = std::env::var("CI").map(|v| v == "true").unwrap_or(false);
    let mut runnable = Vec::new();
    for case in CASES {
        if case.shared && !root().join("../shared/data").exists() {
            assert!(!ci, "{}: ../shared/data is missing under CI", case.name);
            eprintln!("golden: skipping {} (no ../shared/data)", case.name);
            continue;
        }
        runnable.push(case);
    }
    // The cases are independent processes: run them two at a time.
    let bad: Vec<String> = std::thread::scope(|scope| {
        let halves: Vec<_> = [0, 1]
            .map(|k| {
                let mine: Vec<&Case> = runnable.iter().skip(k).step_by(2).copied().collect();
                scope.spawn(move || {
                    mine.iter()
                        .flat_map(|c| run_case(c, bless))
                        .collect::<Vec<_>>()
                })
            })
            .into_iter()
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(
        bad.is_empty(),
        "golden outputs changed:\n{}",
        bad.join("\n")
    );
}
