//! Engram access-trace format: round trip, truncation, corruption, config mismatch, CSV,
//! and a trace written by the stdlib-only Python module read back in Rust.

use std::io::Cursor;
use std::path::PathBuf;
use std::process::Command;

use memwall_engram::trace::{
    export_csv, RowsRecord, RowsRecordRef, TraceHeader, TraceReader, TraceWriter, CSV_COLUMNS,
};
use memwall_engram::{EngramHasher, EngramLayout, NgramHistory};

fn sample_trace() -> (Vec<u8>, Vec<RowsRecord>) {
    let layout = EngramLayout::builtin("v41-flash").unwrap();
    let h = EngramHasher::new(&layout);
    let header = TraceHeader::for_layout(&layout, serde_json::json!({"kind": "test"}));
    let mut w = TraceWriter::new(Vec::new(), header).unwrap();
    let mut expect = Vec::new();
    let mut hist = NgramHistory::start(&h);
    let mut buf = Vec::new();
    for step in 0..5u64 {
        let ids: Vec<u32> = (0..(step as u32 * 3 + 1))
            .map(|i| (i * 31 + step as u32) % 99_092)
            .collect();
        h.hash_chunk(&mut hist, &ids, &mut buf).unwrap();
        let per = ids.len() * h.columns();
        for (li, &layer_id) in h.layer_ids().iter().enumerate() {
            let rows = &buf[li * per..(li + 1) * per];
            let seq: Vec<u32> = vec![7; ids.len()];
            let pos: Vec<u32> = (0..ids.len() as u32).collect();
            let meta = step % 2 == 0;
            let time = if step > 2 {
                Some((step * 1000, step * 1000 + 50))
            } else {
                None
            };
            w.write_rows(&RowsRecordRef {
                step,
                layer_id,
                rows,
                token_meta: if meta { Some((&seq, &pos)) } else { None },
                time_ns: time,
            })
            .unwrap();
            expect.push(RowsRecord {
                step,
                layer_id,
                n_tokens: ids.len() as u32,
                time_ns: time,
                seq: if meta { seq.clone() } else { vec![] },
                pos: if meta { pos.clone() } else { vec![] },
                rows: rows.to_vec(),
            });
        }
    }
    let (summary, bytes) = w.finish().unwrap();
    assert_eq!(summary.records, 10);
    assert_eq!(summary.bytes, bytes.len() as u64);
    (bytes, expect)
}

fn read_all(bytes: &[u8]) -> Result<Vec<RowsRecord>, String> {
    let mut r = TraceReader::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let mut rec = RowsRecord::default();
    while r.next_record(&mut rec).map_err(|e| e.to_string())? {
        out.push(rec.clone());
    }
    Ok(out)
}

#[test]
fn round_trip() {
    let (bytes, expect) = sample_trace();
    assert_eq!(read_all(&bytes).unwrap(), expect);
    let r = TraceReader::new(Cursor::new(&bytes)).unwrap();
    r.header()
        .check_layout(&EngramLayout::builtin("v41-flash").unwrap())
        .unwrap();
}

#[test]
fn every_truncation_is_a_clear_error() {
    let (bytes, _) = sample_trace();
    for cut in 0..bytes.len() {
        let e = read_all(&bytes[..cut]).unwrap_err();
        assert!(
            e.contains("byte offset") && (e.contains("truncated") || e.contains("magic")),
            "cut {cut}: {e}"
        );
    }
}

#[test]
fn corruption_is_detected_with_offset() {
    let (bytes, _) = sample_trace();
    for pos in (0..bytes.len()).step_by(37) {
        let mut b = bytes.clone();
        b[pos] ^= 0x40;
        let e = read_all(&b).unwrap_err();
        assert!(e.contains("byte offset"), "flip at {pos}: {e}");
    }
    let mut b = bytes.clone();
    b.push(0);
    assert!(read_all(&b).unwrap_err().contains("trailing"));
}

#[test]
fn mismatched_config_is_detected() {
    let (bytes, _) = sample_trace();
    let r = TraceReader::new(Cursor::new(&bytes)).unwrap();
    let e = r
        .header()
        .check_layout(&EngramLayout::builtin("demo").unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not match config `demo`"), "{e}");
}

#[test]
fn writer_rejects_bad_records() {
    let layout = EngramLayout::builtin("demo").unwrap();
    let mut w = TraceWriter::new(
        Vec::new(),
        TraceHeader::for_layout(&layout, serde_json::Value::Null),
    )
    .unwrap();
    let rec = |layer_id, rows: &'static [u64]| RowsRecordRef {
        step: 0,
        layer_id,
        rows,
        token_meta: None,
        time_ns: None,
    };
    assert!(w.write_rows(&rec(2, &[0; 16])).is_err()); // unknown layer
    assert!(w.write_rows(&rec(1, &[0; 15])).is_err()); // not a multiple of columns
    assert!(w.write_rows(&rec(1, &[20_000_000; 16])).is_err()); // outside the table
    assert!(w.write_rows(&rec(1, &[5; 16])).is_ok());
}

#[test]
fn csv_export() {
    let (bytes, expect) = sample_trace();
    let mut r = TraceReader::new(Cursor::new(&bytes)).unwrap();
    let mut out = Vec::new();
    let lines = export_csv(&mut r, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let total: usize = expect.iter().map(|r| r.rows.len()).sum();
    assert_eq!(lines as usize, total);
    let mut it = text.lines();
    assert_eq!(it.next(), Some(CSV_COLUMNS));
    let first = it.next().unwrap();
    assert_eq!(first, format!("0,1,0,7,0,,,2,0,{}", expect[0].rows[0]));
}

/// A trace written by tools/memwall_trace.py (as an engine would) reads back in Rust.
#[test]
fn python_writer_round_trip() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    if Command::new("python3").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 missing on CI"
        );
        eprintln!("NOTICE: python3 not found; skipping the Python writer test");
        return;
    }
    let layout = EngramLayout::builtin("v41-flash").unwrap();
    let h = EngramHasher::new(&layout);
    let ids: Vec<u32> = vec![237, 9933, 14, 174, 35, 2219, 5, 99_091];
    let rows = h.hash_sequence(&ids).unwrap();
    let per = ids.len() * h.columns();
    let dir = std::env::temp_dir().join(format!("memwall-pytrace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("engine.mwet");
    let script = format!(
        r#"
import sys, json
sys.path.insert(0, {tools:?})
from memwall_trace import EngramTraceWriter
rows = json.loads({rows:?})
cfg = json.loads({cfg:?})
with EngramTraceWriter({out:?}, config_name="deepseek_v41", layer_ids=[1, 14], orders=[2, 3, 4],
                       heads_per_order=8, table_rows=cfg["table_rows"],
                       head_table_sizes=cfg["head_table_sizes"], compressed_vocab_size=99092,
                       row_bytes=264) as w:
    for layer, r in zip([1, 14], rows):
        w.write(3, layer, [r[i:i + 24] for i in range(0, len(r), 24)],
                t_start_ns=1000 + layer, t_end_ns=2000 + layer,
                seq_ids=[4] * {n}, positions=list(range({n})))
"#,
        tools = root.join("tools").display().to_string(),
        rows = serde_json::to_string(&vec![rows[..per].to_vec(), rows[per..].to_vec()]).unwrap(),
        cfg = serde_json::to_string(
            &TraceHeader::for_layout(&layout, serde_json::Value::Null).config
        )
        .unwrap(),
        out = out.display().to_string(),
        n = ids.len(),
    );
    let res = Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    let mut r = TraceReader::open(&out).unwrap();
    r.header().check_layout(&layout).unwrap();
    let mut rec = RowsRecord::default();
    for (li, layer) in [1u32, 14].iter().enumerate() {
        assert!(r.next_record(&mut rec).unwrap());
        assert_eq!(rec.layer_id, *layer);
        assert_eq!(rec.step, 3);
        assert_eq!(
            rec.time_ns,
            Some((1000 + u64::from(*layer), 2000 + u64::from(*layer)))
        );
        assert_eq!(rec.seq, vec![4; ids.len()]);
        assert_eq!(rec.rows, rows[li * per..(li + 1) * per]);
    }
    assert!(!r.next_record(&mut rec).unwrap());
    std::fs::remove_dir_all(&dir).ok();
}
