//! Replay of captured Engram access traces (`[workload] kind = "engram-trace"`): the steps,
//! their composition and every row id the simulator consumes are the trace's, and the
//! engine's measured times stand beside the simulated ones.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use memwall_engram::trace::{RowsRecord, RowsRecordRef, TraceHeader, TraceReader, TraceWriter};
use memwall_engram::EngramLayout;
use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_serve::mwet::TraceDigest;
use memwall_serve::{run_scenario, step_csv, RunResult, Scenario};

/// Written by tools/capture-engram-trace.py through tools/memwall_trace.py (the Python
/// hook), tests/fixtures/README.md.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/mwet/demo-engine-8req.mwet")
}

fn scenario(trace: &Path, extra: &str) -> Scenario {
    let text = format!(
        r#"
name = "replay"
system = "deepseek-h800-node"
model = "deepseek-v4.1-flash"
[workload]
kind = "engram-trace"
trace = "{}"
[engine]
expert_parallel = 8
{extra}
[engram]
layout = "demo"
placement = "host-zero-copy"
"#,
        trace.display()
    );
    Scenario::from_toml_str("replay.toml", &text).unwrap()
}

fn run(s: &Scenario) -> Result<RunResult, String> {
    let reg = Registry::embedded().unwrap();
    run_scenario(s, &reg, &ModelRegistry::builtin()).map_err(|e| e.to_string())
}

/// One trace step, read straight from the file: (tokens, sequences, lookups per layer).
#[derive(Debug, Default)]
struct Step {
    tokens: u64,
    seqs: usize,
    lookups: BTreeMap<u32, (u64, u64)>,
}

/// The trace read with the engram crate's reader alone: every step and the digest of
/// every record, folded as the simulator folds what it consumes.
fn read_trace(path: &Path) -> (BTreeMap<u64, Step>, TraceDigest) {
    let mut r = TraceReader::open(path).unwrap();
    let mut rec = RowsRecord::default();
    let (mut steps, mut d) = (BTreeMap::<u64, Step>::new(), TraceDigest::default());
    while r.next_record(&mut rec).unwrap() {
        d.add_rows(rec.step, rec.layer_id, &rec.rows);
        let st = steps.entry(rec.step).or_default();
        st.tokens = u64::from(rec.n_tokens);
        let mut seqs = rec.seq.clone();
        seqs.sort_unstable();
        seqs.dedup();
        st.seqs = seqs.len();
        if let Some(t) = rec.time_ns {
            st.lookups.insert(rec.layer_id, t);
        }
    }
    for st in steps.values() {
        d.add_step(st.tokens);
    }
    (steps, d)
}

/// Must hold: a trace written by the Python hook replays through `memwall run` with its
/// step composition and row ids unchanged.
#[test]
fn a_hook_trace_replays_with_its_steps_and_row_ids_unchanged() {
    let (steps, digest) = read_trace(&fixture());
    let r = run(&scenario(&fixture(), "")).unwrap();
    let got = r.with_engram.replay.expect("a replay digest");
    assert_eq!(
        got, digest,
        "what the simulator consumed differs from the trace"
    );
    assert!(digest.row_ids > 10_000 && steps.len() > 20, "{digest:?}");
    // Step by step: the simulated batch is the trace's (tokens and sequences).
    assert_eq!(r.batches.len(), steps.len());
    for (b, (step, st)) in r.batches.iter().zip(&steps) {
        assert_eq!(
            (b.step, b.tokens, b.seqs as usize),
            (*step, st.tokens, st.seqs)
        );
    }
    // Step x layer: every layer fetched the step's tokens x 16 rows (no cache in front).
    assert_eq!(r.step_rows.len(), 2 * steps.len());
    let starts: Vec<u64> = steps
        .values()
        .map(|s| s.lookups.values().map(|l| l.0).min().unwrap())
        .collect();
    for row in &r.step_rows {
        let st = &steps[&row.step];
        assert_eq!((row.tokens, row.rows), (st.tokens, st.tokens * 16));
        let (a, b) = st.lookups[&row.layer];
        assert_eq!(row.engine_lookup.unwrap().0, (b - a) * 1000);
        let i = steps.keys().position(|&k| k == row.step).unwrap();
        let next = starts.get(i + 1).map(|n| (n - starts[i]) * 1000);
        assert_eq!(row.engine_step.map(|p| p.0), next);
    }
    assert_eq!(r.with_engram.steps, steps.len() as u64);
    let csv = String::from_utf8(step_csv(&r)).unwrap();
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .ends_with(",engine_step_us,engine_lookup_us"));
    // The same steps without Engram: the comparison run replays them too.
    assert_eq!(r.without_engram.unwrap().steps, steps.len() as u64);
}

#[test]
fn a_replay_is_deterministic_and_max_steps_stops_it() {
    let s = scenario(&fixture(), "");
    let a = step_csv(&run(&s).unwrap());
    assert_eq!(a, step_csv(&run(&s).unwrap()));
    let text = s.source_text.replace("[engine]", "max_steps = 5\n[engine]");
    let five = run(&Scenario::from_toml_str("r.toml", &text).unwrap()).unwrap();
    assert_eq!(five.with_engram.steps, 5);
    assert_eq!(five.with_engram.replay.unwrap().steps, 5);
}

/// An HBM row cache in front of the table sees the trace's real reuse: its hits are rows
/// the trace reads again.
#[test]
fn a_row_cache_sees_the_traces_reuse() {
    let s = scenario(&fixture(), "");
    let text = format!(
        "{}\n[engram.hbm_cache]\npolicy = \"lru\"\nsize = \"1 GiB\"\n",
        s.source_text
    );
    let r = run(&Scenario::from_toml_str("r.toml", &text).unwrap()).unwrap();
    // Every read of a row already read once hits an unbounded cache: count them.
    let mut seen = std::collections::HashSet::new();
    let (mut again, mut all) = (0u64, 0u64);
    let mut rd = TraceReader::open(&fixture()).unwrap();
    let mut rec = RowsRecord::default();
    while rd.next_record(&mut rec).unwrap() {
        for &row in &rec.rows {
            all += 1;
            again += u64::from(!seen.insert((rec.layer_id, row)));
        }
    }
    let rate = r.with_engram.hbm_cache_hit_rate.unwrap();
    assert!(again > 0);
    assert!(
        (rate - again as f64 / all as f64).abs() < 1e-12,
        "{rate} vs {again}/{all}"
    );
}

/// A small trace of the demo layout written in Rust, for the hostile cases.
fn write(path: &Path, recs: &[(u64, u32, Vec<u32>, Vec<u32>)]) {
    let layout = EngramLayout::builtin("demo").unwrap();
    let header = TraceHeader::for_layout(&layout, serde_json::json!({"kind": "synthetic"}));
    let mut w = TraceWriter::new(Vec::new(), header).unwrap();
    for (step, layer_id, seq, pos) in recs {
        let rows: Vec<u64> = (0..seq.len() as u64 * 16).collect();
        w.write_rows(&RowsRecordRef {
            step: *step,
            layer_id: *layer_id,
            rows: &rows,
            token_meta: Some((seq, pos)),
            time_ns: None,
        })
        .unwrap();
    }
    std::fs::write(path, w.finish().unwrap().1).unwrap();
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memwall-mwet-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn hostile_traces_are_refused_with_file_record_field_and_hint() {
    let p = tmp("twice.mwet");
    write(&p, &[(0, 1, vec![0], vec![0]), (0, 1, vec![0], vec![0])]);
    let e = run(&scenario(&p, "")).unwrap_err();
    assert!(
        e.contains("twice.mwet")
            && e.contains("record 2")
            && e.contains("field `layer_id`")
            && e.contains("hint:"),
        "{e}"
    );
    let p = tmp("gap.mwet");
    write(&p, &[(0, 1, vec![4, 4], vec![0, 2])]);
    let e = run(&scenario(&p, "")).unwrap_err();
    assert!(
        e.contains("gap.mwet") && e.contains("field `positions`") && e.contains("position 2"),
        "{e}"
    );
    let p = tmp("uneven.mwet");
    write(
        &p,
        &[(0, 1, vec![0, 0], vec![0, 1]), (0, 15, vec![0], vec![0])],
    );
    let e = run(&scenario(&p, "")).unwrap_err();
    assert!(
        e.contains("field `tokens`") && e.contains("record 2"),
        "{e}"
    );
    // Truncated: the end record is missing.
    let bytes = std::fs::read(fixture()).unwrap();
    let p = tmp("cut.mwet");
    std::fs::write(&p, &bytes[..bytes.len() - 40]).unwrap();
    let e = run(&scenario(&p, "")).unwrap_err();
    assert!(
        e.contains("cut.mwet") && e.contains("byte offset") && e.contains("hint:"),
        "{e}"
    );
    // A flipped byte in a record: the checksum names where.
    let mut bad = bytes.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x55;
    std::fs::write(&p, &bad).unwrap();
    let e = run(&scenario(&p, "")).unwrap_err();
    assert!(e.contains("checksum") && e.contains("byte offset"), "{e}");
    // Another layout than the trace's.
    let s = scenario(&fixture(), "");
    let text = s.source_text.replace("\"demo\"", "\"v41-flash\"");
    let e = run(&Scenario::from_toml_str("r.toml", &text).unwrap()).unwrap_err();
    assert!(e.contains("layer ids") && e.contains("names `demo`"), "{e}");
    let e = run(&scenario(&fixture(), "replicas = 2")).unwrap_err();
    assert!(
        e.contains("engine.replicas") && e.contains("replicas = 1"),
        "{e}"
    );
    let e = run(&scenario(&tmp("absent.mwet"), "")).unwrap_err();
    assert!(e.contains("absent.mwet"), "{e}");
}

/// The composition read from token metadata: decodes, prefill chunks and which samples.
#[test]
fn step_composition_follows_sequence_ids_and_positions() {
    let p = tmp("mix.mwet");
    // Step 0: seq 7 prefills 0..3 (continued next step), seq 9 prefills 0..2 (done).
    // Step 1: seq 7 prefills 3..5 (its last chunk: it samples), seq 9 decodes at 2. (A
    // one-token chunk after a context reads as a decode: positions cannot tell them apart.)
    write(
        &p,
        &[
            (0, 1, vec![7, 7, 7, 9, 9], vec![0, 1, 2, 0, 1]),
            (1, 1, vec![7, 9, 7], vec![3, 2, 4]),
        ],
    );
    let mut steps = memwall_serve::mwet::TraceSteps::open(&p, None, None).unwrap();
    let s0 = steps.next_step().unwrap().unwrap().plan.clone();
    let w: Vec<_> = s0
        .work
        .iter()
        .map(|w| (w.ctx, w.new, w.samples, w.decode))
        .collect();
    assert_eq!(w, [(0, 3, false, false), (0, 2, true, false)]);
    assert!(s0.prefill);
    let s1 = steps.next_step().unwrap().unwrap().plan.clone();
    let w: Vec<_> = s1
        .work
        .iter()
        .map(|w| (w.ctx, w.new, w.samples, w.decode))
        .collect();
    assert_eq!(w, [(3, 2, true, false), (2, 1, true, true)]);
    assert!(steps.next_step().unwrap().is_none());
}

/// Random valid traces (sequences prefilled in chunks, then decoding; every layer of a
/// step with the same tokens; timestamps or not): each replays twice to the same outputs,
/// and consumes exactly what it holds.
#[test]
fn random_valid_traces_replay_exactly_and_deterministically() {
    use rand::{Rng, SeedableRng};
    let layout = EngramLayout::builtin("demo").unwrap();
    let rows_max = layout.table_rows();
    for case in 0..6u64 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(case);
        let header = TraceHeader::for_layout(&layout, serde_json::json!({"kind": "synthetic"}));
        let mut w = TraceWriter::new(Vec::new(), header).unwrap();
        // (seq id, next position, prompt length, total length)
        let mut seqs: Vec<(u32, u32, u32, u32)> = (0..rng.gen_range(1..6u32))
            .map(|i| {
                let prompt = rng.gen_range(1..40);
                (i * 7 + 1, 0, prompt, prompt + rng.gen_range(1..6))
            })
            .collect();
        let timed = rng.gen_bool(0.5);
        let (mut step, mut t) = (rng.gen_range(0..3u64), 0u64);
        while !seqs.is_empty() {
            let (mut seq, mut pos) = (Vec::new(), Vec::new());
            for s in seqs.iter_mut() {
                let n = if s.1 < s.2 {
                    rng.gen_range(1..=s.2 - s.1)
                } else {
                    1
                };
                for k in 0..n {
                    seq.push(s.0);
                    pos.push(s.1 + k);
                }
                s.1 += n;
            }
            seqs.retain(|s| s.1 < s.3);
            for (li, &layer_id) in layout.layer_ids().iter().enumerate() {
                let rows: Vec<u64> = (0..seq.len() * 16)
                    .map(|_| rng.gen_range(0..rows_max[li]))
                    .collect();
                w.write_rows(&RowsRecordRef {
                    step,
                    layer_id,
                    rows: &rows,
                    token_meta: Some((&seq, &pos)),
                    time_ns: timed.then_some((t, t + 500)),
                })
                .unwrap();
                t += 1000;
            }
            step += rng.gen_range(1..3);
        }
        let p = tmp(&format!("random-{case}.mwet"));
        std::fs::write(&p, w.finish().unwrap().1).unwrap();
        let (steps, digest) = read_trace(&p);
        let s = scenario(&p, "");
        let a = run(&s).unwrap();
        assert_eq!(a.with_engram.replay, Some(digest), "case {case}");
        assert_eq!(a.batches.len(), steps.len(), "case {case}");
        let b = run(&s).unwrap();
        assert_eq!(step_csv(&a), step_csv(&b), "case {case}");
        assert_eq!(
            memwall_serve::summary_json(&a),
            memwall_serve::summary_json(&b),
            "case {case}"
        );
    }
}
