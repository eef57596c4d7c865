//! Issue 15, end to end: every hostile-but-fair input found by hand answers with a clear
//! error (exit status 1, never a panic's 101 or an abort's 134), within 2 GiB of memory
//! (each command runs under `ulimit -v 2 GiB`, and its peak resident memory, read with
//! `wait4`, must stay under 2 GiB too), and no output ever replaces an input.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memwall-hostile-{}-{name}", std::process::id()));
    std::fs::remove_dir_all(&d).ok();
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The memory no command may use on these inputs: 2 GiB.
const MEMORY_LIMIT_KIB: i64 = 2 << 20;

/// `memwall ARGS` in `dir` under a 2 GiB address-space limit, with `env` set; fails the
/// test if its peak resident memory reached 2 GiB.
fn memwall_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.current_dir(dir)
        .arg("-c")
        .arg(format!("ulimit -v {MEMORY_LIMIT_KIB}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_memwall"))
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Reaped by `wait_with_peak` (wait4), which std's `wait` cannot do with the rusage.
    #[allow(clippy::zombie_processes)]
    let mut child = cmd.spawn().expect("run memwall");
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        out.read_to_end(&mut b).map(|_| b)
    });
    let mut stderr = Vec::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    let stdout = reader.join().unwrap().unwrap();
    let (status, peak_kib) = wait_with_peak(child.id());
    assert!(
        peak_kib < MEMORY_LIMIT_KIB,
        "{args:?}: peak resident memory {peak_kib} KiB"
    );
    Output {
        status,
        stdout,
        stderr,
    }
}

fn memwall(dir: &Path, args: &[&str]) -> Output {
    memwall_env(dir, args, &[])
}

/// Reaps child `pid` (`sh` exec'd into memwall: the same process) and returns its status
/// and peak resident memory in KiB (`ru_maxrss`).
fn wait_with_peak(pid: u32) -> (ExitStatus, i64) {
    let mut status = 0;
    // SAFETY: rusage is plain data, and wait4 writes it and the status for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let got = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(got, pid as libc::pid_t, "wait4");
    (ExitStatus::from_raw(status), usage.ru_maxrss)
}

/// The error text of a command that must fail cleanly (status 1).
fn fails(dir: &Path, args: &[&str]) -> String {
    fails_env(dir, args, &[])
}

fn fails_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = memwall_env(dir, args, env);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.starts_with("error: "), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
    err
}

fn shipped(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap()
}

/// The default scenario with `from` replaced by `to`, written to `dir/name`.
fn scenario(dir: &Path, name: &str, from: &str, to: &str) {
    let t = shipped("scenarios/default.toml");
    assert!(t.contains(from), "{from}");
    std::fs::write(dir.join(name), t.replace(from, to)).unwrap();
}

#[test]
fn counts_out_of_range_stop_at_load() {
    let d = tmp("counts");
    let cases = [
        (
            "requests = 256",
            "requests = 4294967296",
            "workload.requests",
            ":13:",
        ),
        (
            "kernels_per_layer = 12",
            "kernels_per_layer = 1000000000000",
            "engine.kernels_per_layer",
            ":22:",
        ),
    ];
    for (i, (from, to, field, line)) in cases.iter().enumerate() {
        let f = format!("s{i}.toml");
        scenario(&d, &f, from, to);
        let e = fails(&d, &["run", &f]);
        assert!(
            e.contains(field) && e.contains("out of range") && e.contains(line),
            "{e}"
        );
    }
    let nvme = shipped("scenarios/whatif/h800-nvme-2drives-none.toml");
    for n in ["1000000000000", "100000000"] {
        std::fs::write(
            d.join("n.toml"),
            nvme.replace("drives = 2", &format!("drives = {n}")),
        )
        .unwrap();
        let e = fails(&d, &["run", "n.toml"]);
        assert!(e.contains("drives") && e.contains("1 to 256"), "{e}");
    }
}

#[test]
fn a_large_run_is_refused_without_force() {
    let d = tmp("budget");
    scenario(&d, "big.toml", "requests = 256", "requests = 10000000");
    let e = fails(&d, &["run", "big.toml"]);
    assert!(e.contains("GiB of memory") && e.contains("--force"), "{e}");
}

#[test]
fn an_endless_input_fails_fast() {
    let d = tmp("devzero");
    let t0 = std::time::Instant::now();
    let e = fails(&d, &["run", "/dev/zero"]);
    assert!(e.contains("/dev/zero") && e.contains("input limit"), "{e}");
    let e = fails(&d, &["sweep", "/dev/zero", "--check"]);
    assert!(e.contains("input limit"), "{e}");
    assert!(t0.elapsed().as_secs() < 30);
}

#[test]
fn outputs_never_overwrite_inputs_or_each_other() {
    let d = tmp("paths");
    scenario(&d, "s.toml", "requests = 256", "requests = 8");
    let before = std::fs::read(d.join("s.toml")).unwrap();
    let e = fails(&d, &["run", "s.toml", "--csv", "s.toml"]);
    assert!(e.contains("would destroy the input"), "{e}");
    assert_eq!(std::fs::read(d.join("s.toml")).unwrap(), before);
    let e = fails(&d, &["run", "s.toml", "--csv", "f", "--steps-csv", "./f"]);
    assert!(
        e.contains("--steps-csv") && e.contains("only one of the two"),
        "{e}"
    );
    assert!(!d.join("f").exists());
    let trace = root().join("tests/fixtures/traces/handmade-two-streams.json");
    std::fs::create_dir_all(d.join("D")).unwrap();
    std::fs::copy(&trace, d.join("D/replay.trace.json")).unwrap();
    let e = fails(&d, &["replay", "D/replay.trace.json", "--out", "D"]);
    assert!(e.contains("would destroy the input"), "{e}");
    assert_eq!(
        std::fs::read(d.join("D/replay.trace.json")).unwrap(),
        std::fs::read(&trace).unwrap()
    );
}

/// A Kineto fixture with its first kernel's `ts` replaced.
fn trace_with_ts(d: &Path, name: &str, ts: &str) {
    let t = shipped("tests/fixtures/traces/handmade-two-streams.json");
    let from = "\"ts\": 1050, \"dur\": 60";
    assert!(t.contains(from));
    std::fs::write(
        d.join(name),
        t.replace(from, &format!("\"ts\": {ts}, \"dur\": 60")),
    )
    .unwrap();
}

#[test]
fn bad_trace_times_are_errors_and_leave_no_outputs() {
    let d = tmp("times");
    trace_with_ts(&d, "neg.json", "-5.0");
    let e = fails(&d, &["replay", "neg.json", "--out", "o"]);
    assert!(
        e.contains("neg.json") && e.contains("negative timestamp"),
        "{e}"
    );
    trace_with_ts(&d, "str.json", "\"123\"");
    let e = fails(&d, &["replay", "str.json", "--out", "o"]);
    assert!(e.contains("is not a number"), "{e}");
    // One GPU op 5 us after the epoch, the rest 11 days later: far before its launch.
    trace_with_ts(&d, "early.json", "5.0");
    let t = std::fs::read_to_string(d.join("early.json")).unwrap();
    let t = t.replace("\"ts\": 10", "\"ts\": 100000000010");
    std::fs::write(d.join("early.json"), t).unwrap();
    let e = fails(&d, &["replay", "early.json", "--out", "o"]);
    assert!(e.contains("span") && e.contains("early.json"), "{e}");
    assert!(!d.join("o").exists(), "no output of a failed replay");
}

#[test]
fn nccl_metadata_out_of_range_is_an_error() {
    let d = tmp("nccl");
    let t = shipped("tests/fixtures/traces/handmade-two-streams.json");
    for (from, to, what) in [
        ("\"Group size\": 8", "\"Group size\": 0", "Group size"),
        (
            "\"In msg nelems\": 1024",
            "\"In msg nelems\": -4",
            "In msg nelems",
        ),
    ] {
        std::fs::write(d.join("t.json"), t.replace(from, to)).unwrap();
        let e = fails(&d, &["replay", "t.json"]);
        assert!(e.contains(what) && e.contains("t.json"), "{e}");
    }
}

#[test]
fn scenario_errors_name_file_line_field_and_never_come_empty() {
    let d = tmp("errors");
    let cases = [
        (
            "max_num_seqs = 64",
            "max_num_seqs = \"x\"",
            "field `engine.max_num_seqs`",
        ),
        (
            "system = \"deepseek-h800-node\"",
            "system = \"nope\"",
            "s1.toml:8: field `system`",
        ),
        (
            "model = \"deepseek-v4.1-flash\"",
            "model = \"nope\"",
            "s2.toml:9: model: unknown model `nope`",
        ),
        (
            "name = \"default-v41-flash-h800-host-dram\"",
            "name = \"a\u{1}b\"",
            "U+0001",
        ),
        (
            "host_copy = \"per-socket\"",
            "host_copy = \"per-rack\"",
            "engram.host_copy",
        ),
    ];
    for (i, (from, to, want)) in cases.iter().enumerate() {
        let f = format!("s{i}.toml");
        scenario(&d, &f, from, to);
        let e = fails(&d, &["run", &f]);
        assert!(e.contains(want), "{e}");
        assert!(!e.contains("unknown fields are errors"), "{e}");
    }
    std::fs::write(d.join("eof.toml"), "name = ").unwrap();
    for cmd in [&["run", "eof.toml"][..], &["sweep", "eof.toml", "--check"]] {
        let e = fails(&d, cmd);
        assert!(e.contains("eof.toml:1") && e.contains("file ends"), "{e}");
    }
    std::fs::write(d.join("x.toml"), "kind = \"gpu\"\nname = ").unwrap();
    let e = fails(&d, &["profiles", "validate", "x.toml"]);
    assert!(e.contains("x.toml:2") && e.contains("file ends"), "{e}");
}

#[test]
fn one_bad_count_in_a_profile_is_one_error() {
    let d = tmp("nic");
    let t = shipped("hw-profiles/systems/deepseek-h800-node.toml");
    let from = "nic_count = { value = 8,";
    assert!(t.contains(from));
    std::fs::write(
        d.join("n.toml"),
        t.replace(from, "nic_count = { value = 1000000,"),
    )
    .unwrap();
    let e = fails(&d, &["profiles", "validate", "n.toml"]);
    assert!(e.contains("1000000 is out of range"), "{e}");
    assert!(e.lines().count() < 50, "{} lines", e.lines().count());
}

#[test]
fn a_free_node_is_not_on_the_pareto_frontier() {
    let d = tmp("price");
    std::fs::create_dir_all(d.join("examples")).unwrap();
    for sub in ["sweeps", "economics"] {
        std::fs::create_dir_all(d.join("examples").join(sub)).unwrap();
        for f in std::fs::read_dir(root().join("examples").join(sub)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(
                &f,
                d.join("examples").join(sub).join(f.file_name().unwrap()),
            )
            .unwrap();
        }
    }
    let p = d.join("examples/economics/prices.toml");
    let t = std::fs::read_to_string(&p)
        .unwrap()
        .replacen("$16/h", "$0/h", 1);
    std::fs::write(&p, t).unwrap();
    let e = fails(
        &d,
        &["sweep", "examples/sweeps/engram-fetch.toml", "--check"],
    );
    assert!(e.contains("prices.toml:") && e.contains("above $0"), "{e}");
}

#[test]
fn a_huge_sweep_cell_is_refused_before_it_runs() {
    let d = tmp("sweep");
    std::fs::create_dir_all(d.join("examples/sweeps")).unwrap();
    let t = shipped("examples/sweeps/engram-fetch.toml").replace("economics = ", "# ");
    let big = t.replace("layers = 6", "layers = 1000000");
    std::fs::write(d.join("examples/sweeps/big.toml"), big).unwrap();
    let e = fails(&d, &["sweep", "examples/sweeps/big.toml", "--out", "o"]);
    assert!(e.contains("model.layers = 1000000 is out of range"), "{e}");
    let slow = t
        .replace("layers = 6", "layers = 1024")
        .replace("steps = 8", "steps = 100000");
    std::fs::write(d.join("examples/sweeps/slow.toml"), slow).unwrap();
    let e = fails(&d, &["sweep", "examples/sweeps/slow.toml", "--check"]);
    assert!(e.contains("--force"), "{e}");
}

#[test]
fn nvme_placement_needs_drives() {
    let d = tmp("nodrives");
    let t = shipped("scenarios/whatif/h800-nvme-2drives-none.toml");
    std::fs::write(d.join("n.toml"), t.replace("drives = 2\n", "")).unwrap();
    let e = fails(&d, &["run", "n.toml"]);
    assert!(e.contains("no NVMe drives") && e.contains("n.toml"), "{e}");
}

/// A one-cell engram-fetch sweep in `d/s.toml`.
fn one_cell_sweep(d: &Path) {
    let t = "[sweep]\nname = \"one\"\nrunner = \"engram-fetch\"\n[base]\nsystem = \"hgx-h200\"\n\
             steps = 2\n[base.model]\nlayers = 2\ncompute_per_layer = \"60 us\"\n[base.batch]\n\
             tokens = 4\n[base.engram]\nplacement = \"host-dram\"\nrows_per_token = 2\n\
             [[axis]]\nkey = \"engram.prefetch_layers\"\nvalues = [1]\n";
    std::fs::write(d.join("s.toml"), t).unwrap();
}

#[test]
fn a_rerun_removes_stale_partials_and_recomputes_a_tampered_cell() {
    let d = tmp("resume");
    one_cell_sweep(&d);
    let out = memwall(&d, &["sweep", "s.toml", "--out", "o", "--quiet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The finished set is marked complete, naming each final output.
    let marker = std::fs::read_to_string(d.join("o/COMPLETE")).unwrap();
    for f in ["sweep.csv", "cells.csv", "summary.json", "summary.md"] {
        assert!(
            marker.lines().any(|l| l.starts_with(&format!("{f} "))),
            "{marker}"
        );
    }
    // A partial left by a process that is gone (pid above the kernel's maximum).
    let stray = d.join("o/sweep.csv.partial-99999999");
    std::fs::write(&stray, "half").unwrap();
    let cell = std::fs::read_dir(d.join("o/cells"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let good = std::fs::read_to_string(&cell).unwrap();
    let tampered = good.replacen("\"value\": \"", "\"value\": \"9", 1);
    assert_ne!(tampered, good);
    std::fs::write(&cell, &tampered).unwrap();
    let out = memwall(&d, &["sweep", "s.toml", "--out", "o", "--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("failed their checksum") && err.contains("1 ran"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&cell).unwrap(), good);
    if Path::new("/proc/self").exists() {
        assert!(!stray.exists(), "the stale partial is removed");
    }
}

#[test]
fn huge_training_steps_and_fabrics_are_refused_before_they_are_built() {
    let d = tmp("train");
    let e = fails(&d, &["train", "--micro-batches", "2000000", "--out", "o"]);
    assert!(
        e.contains("`micro_batches` = 2000000 is out of range"),
        "{e}"
    );
    let e = fails(&d, &["train", "--micro-batches", "100000", "--out", "o"]);
    assert!(e.contains("GiB of memory") && e.contains("--force"), "{e}");
    let e = fails(&d, &["fabric", "--tokens", "1000000000000"]);
    assert!(e.contains("of CPU time") && e.contains("--tokens"), "{e}");
    assert!(!d.join("o").exists());
}

/// A gzip trace whose JSON text is past the memory budget (here lowered to 64 MiB, so
/// the test stays small: 128 MiB of text in a 130 kB file) is refused before the import.
#[test]
fn a_trace_past_the_budget_is_refused_before_it_is_imported() {
    use std::io::Write;
    let d = tmp("bomb");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"{\"traceEvents\": [").unwrap();
    let pad = vec![b' '; 1 << 20];
    for _ in 0..128 {
        gz.write_all(&pad).unwrap();
    }
    gz.write_all(b"]}").unwrap();
    std::fs::write(d.join("t.json.gz"), gz.finish().unwrap()).unwrap();
    let env = [("MEMWALL_MEMORY_BUDGET", "67108864")];
    let e = fails_env(&d, &["replay", "t.json.gz"], &env);
    assert!(
        e.starts_with("error: t.json.gz: this run needs about"),
        "{e}"
    );
    assert!(e.contains("--force"), "{e}");
}

/// A `.mwet` trace of the demo layout whose records are `(step, t_start, t_end)`.
fn mwet(records: &[(u64, u64, u64)]) -> Vec<u8> {
    use memwall_engram::trace::{RowsRecordRef, TraceHeader, TraceWriter};
    let layout = memwall_engram::EngramLayout::builtin("demo").unwrap();
    let header = TraceHeader::for_layout(&layout, serde_json::json!({"kind": "synthetic"}));
    let (cols, layer) = (header.config.columns as usize, header.config.layer_ids[0]);
    let mut w = TraceWriter::new(Vec::new(), header).unwrap();
    let rows = vec![1u64; cols];
    for &(step, t0, t1) in records {
        let rec = RowsRecordRef {
            step,
            layer_id: layer,
            rows: &rows,
            token_meta: None,
            time_ns: Some((t0, t1)),
        };
        w.write_rows(&rec).unwrap();
    }
    w.finish().unwrap().1
}

#[test]
fn engram_traces_out_of_order_backwards_or_in_another_unit_are_errors() {
    let d = tmp("mwet");
    std::fs::write(d.join("ok.mwet"), mwet(&[(0, 10, 20), (1, 30, 40)])).unwrap();
    let out = memwall(&d, &["trace", "csv", "ok.mwet"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(d.join("back.mwet"), mwet(&[(5, 10, 20), (4, 30, 40)])).unwrap();
    let e = fails(&d, &["trace", "csv", "back.mwet"]);
    assert!(
        e.contains("back.mwet") && e.contains("step 4 comes after step 5"),
        "{e}"
    );
    std::fs::write(d.join("t.mwet"), mwet(&[(0, 50, 20)])).unwrap();
    let e = fails(&d, &["trace", "csv", "t.mwet"]);
    assert!(
        e.contains("t.mwet") && e.contains("before it starts"),
        "{e}"
    );
    let ok = mwet(&[(0, 10, 20)]);
    let at = ok
        .windows(16)
        .position(|w| w == b"\"time_unit\":\"ns\"")
        .unwrap();
    let mut us = ok.clone();
    us[at + 13..at + 15].copy_from_slice(b"us");
    // The header's checksum (bytes 16..20) covers its JSON (from byte 20).
    let len = u32::from_le_bytes(us[12..16].try_into().unwrap()) as usize;
    let crc = crc32fast::hash(&us[20..20 + len]);
    us[16..20].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(d.join("us.mwet"), us).unwrap();
    let e = fails(&d, &["trace", "csv", "us.mwet"]);
    assert!(e.contains("us.mwet") && e.contains("time_unit"), "{e}");
}

/// Every subcommand's `--help` has a worked example, and every option a description.
#[test]
fn every_subcommand_helps_with_an_example() {
    let d = tmp("help");
    let subs = [
        "train",
        "fabric",
        "profiles",
        "probe",
        "sweep",
        "merge",
        "replay",
        "run",
        "calibrate",
        "trace",
        "trace engram",
        "trace csv",
    ];
    for sub in subs {
        let mut args: Vec<&str> = sub.split(' ').collect();
        args.push("--help");
        let out = memwall(&d, &args);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && help.contains("Examples:\n  memwall "),
            "{sub}: {help}"
        );
        // An undescribed option is a line of its name alone.
        let bare = help.lines().map(str::trim).find(|l| {
            l.starts_with("--") && !l.contains("  ") && !help.contains(&format!("{l}\n          "))
        });
        assert_eq!(bare, None, "{sub}: an option without a description");
    }
}
