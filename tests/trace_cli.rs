//! End-to-end: `memwall trace engram` turns real text (the Shakespeare corpus, DeepSeek-V4
//! tokenizer) into an access trace, deterministically; `memwall trace csv` prints it; a
//! corrupt or truncated trace, or the wrong tokenizer, is a clear error (exit 1, a byte
//! offset for traces), never a panic.
//!
//! Tests that need the fetched inputs (tools/fetch-inputs.sh) skip with a notice when they
//! are absent, and fail when CI=true.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use memwall_engram::trace::CSV_COLUMNS;
use memwall_engram::{trace_synthetic, EngramLayout, ServingSchedule, SyntheticSpec};

fn memwall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memwall"))
        .args(args)
        .output()
        .expect("run memwall")
}

/// `.cache/inputs/<rel>`, or None with a notice; with CI=true absence is a failure.
fn fetched(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".cache/inputs")
        .join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "fetched input {} is missing and CI=true: run tools/fetch-inputs.sh",
            p.display()
        );
    }
    eprintln!(
        "NOTICE: skipping a check: {} is absent (run tools/fetch-inputs.sh)",
        p.display()
    );
    None
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn no_panic(o: &Output) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "panic: {err}");
    assert_ne!(o.status.code(), Some(101), "panic exit: {err}");
}

#[test]
fn trace_engram_from_corpus_then_csv() {
    let (Some(tok), Some(hamlet), Some(lear)) = (
        fetched("deepseek-v4/tokenizer.json"),
        fetched("shakespeare/hamlet.md"),
        fetched("shakespeare/king-lear.md"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for k in 0..2 {
        let out = dir.path().join(format!("t{k}.mwtrace"));
        let o = memwall(&[
            "trace",
            "engram",
            "--model",
            "v41-flash",
            "--tokenizer",
            s(&tok),
            "--text",
            s(&hamlet),
            s(&lear),
            "--out",
            s(&out),
            "--prompt-tokens",
            "256",
            "--decode-tokens",
            "8",
        ]);
        no_panic(&o);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8(o.stdout).unwrap();
        assert!(
            text.starts_with("wrote ") && text.contains("row ids"),
            "{text}"
        );
        bytes.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(bytes[0], bytes[1], "same inputs, different trace bytes");
    let trace = dir.path().join("t0.mwtrace");
    let o = memwall(&["trace", "csv", s(&trace)]);
    no_panic(&o);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = String::from_utf8(o.stdout).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(CSV_COLUMNS));
    // V4.1-Flash: layers 1 and 14, orders 2-4, 8 heads; rows below both tables' sizes.
    let mut n = 0u64;
    let mut layers = std::collections::BTreeSet::new();
    let mut orders = std::collections::BTreeSet::new();
    for l in lines {
        let f: Vec<&str> = l.split(',').collect();
        assert_eq!(f.len(), 10, "{l}");
        layers.insert(f[1].parse::<u32>().unwrap());
        orders.insert(f[7].parse::<u32>().unwrap());
        assert!(f[8].parse::<u32>().unwrap() < 8);
        assert!(f[9].parse::<u64>().unwrap() < 384_016_682, "{l}");
        n += 1;
    }
    assert_eq!(layers.into_iter().collect::<Vec<_>>(), vec![1, 14]);
    assert_eq!(orders.into_iter().collect::<Vec<_>>(), vec![2, 3, 4]);
    assert!(n > 10_000 && n.is_multiple_of(24), "{n} lines");
}

#[test]
fn trace_engram_with_the_wrong_tokenizer_is_a_clear_error() {
    let (Some(v3), Some(hamlet)) = (
        fetched("deepseek-v3/tokenizer.json"),
        fetched("shakespeare/hamlet.md"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.mwtrace");
    let o = memwall(&[
        "trace",
        "engram",
        "--tokenizer",
        s(&v3),
        "--text",
        s(&hamlet),
        "--out",
        s(&out),
    ]);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("98627") && err.contains("99092"), "{err}");
    assert!(!out.exists(), "no output file on error");
}

#[test]
fn trace_engram_missing_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.mwtrace");
    let o = memwall(&[
        "trace",
        "engram",
        "--tokenizer",
        "/nonexistent/tokenizer.json",
        "--text",
        "/nonexistent/a.txt",
        "--out",
        s(&out),
    ]);
    no_panic(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("tokenizer"));
    assert!(!out.exists());
}

/// A small valid trace (synthetic text, real hash), written by the library.
fn synthetic_trace(path: &Path) -> Vec<u8> {
    let layout = EngramLayout::builtin("v41-flash").unwrap();
    let mut spec = SyntheticSpec::new(7, layout.config.compressed_vocab_size as u32);
    spec.requests = 4;
    spec.tokens_per_request = 80;
    let sched = ServingSchedule {
        prompt_tokens: 64,
        decode_tokens: 16,
        ..Default::default()
    };
    let (_, _, buf) = trace_synthetic(&layout, &spec, &sched, Vec::new()).unwrap();
    std::fs::write(path, &buf).unwrap();
    buf
}

#[test]
fn trace_csv_rejects_corrupt_and_truncated_traces_with_an_offset() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.mwtrace");
    let bytes = synthetic_trace(&good);
    let o = memwall(&["trace", "csv", s(&good)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = String::from_utf8(o.stdout).unwrap().lines().count();
    assert!(lines > 1);
    let n = bytes.len();
    let mut cases: Vec<(String, Vec<u8>)> = vec![
        ("empty".into(), Vec::new()),
        ("not a trace".into(), b"step,layer\n1,2\n".to_vec()),
    ];
    for cut in [4, 12, 40, n / 3, n / 2, n - 7, n - 1] {
        cases.push((format!("truncated at {cut} of {n}"), bytes[..cut].to_vec()));
    }
    for at in [n / 2, n - 20] {
        let mut b = bytes.clone();
        b[at] ^= 0x5a;
        cases.push((format!("byte {at} flipped"), b));
    }
    for (what, b) in cases {
        let p = dir.path().join("bad.mwtrace");
        std::fs::write(&p, &b).unwrap();
        let o = memwall(&["trace", "csv", s(&p)]);
        no_panic(&o);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains("bad.mwtrace"), "{what}: names the file: {err}");
        if b.len() > 16 {
            assert!(err.contains("offset"), "{what}: no byte offset: {err}");
        }
        println!("{what}: {}", err.trim().replace('\n', " | "));
    }
}

/// Issue 15: `trace engram` interrupted while it writes leaves neither its partial file
/// nor a finished-looking output behind.
#[test]
fn an_interrupted_trace_engram_leaves_no_partial() {
    let Some(tok) = fetched("deepseek-v4/tokenizer.json") else {
        return;
    };
    let Some(first) = fetched("shakespeare/hamlet.md") else {
        return;
    };
    let plays: Vec<PathBuf> = std::fs::read_dir(first.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.mwtrace");
    let mut args: Vec<&str> = vec!["trace", "engram", "--tokenizer", s(&tok), "--out", s(&out)];
    args.push("--text");
    args.extend(plays.iter().map(|p| s(p)));
    args.extend(["--prompt-tokens", "64", "--decode-tokens", "1"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_memwall"))
        .args(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the partial file exists (the run is writing), or after 20 s.
    let t0 = std::time::Instant::now();
    let partial = || {
        std::fs::read_dir(dir.path()).unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".partial")
        })
    };
    while !partial() && t0.elapsed().as_secs() < 20 {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let interrupted = child.try_wait().unwrap().is_none();
    if interrupted {
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success());
    }
    let status = child.wait().unwrap();
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    if interrupted && !status.success() {
        assert!(left.is_empty(), "left behind after SIGINT: {left:?}");
    } else {
        // it finished before the signal: only the complete output
        assert_eq!(left, vec!["t.mwtrace".to_string()], "{status:?}");
    }
}
