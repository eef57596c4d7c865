//! Engram hot paths, custom harness (prints figures): hashing row ids per second on one
//! core, and trace write / read throughput in MB/s (in memory, so it measures the codec).
//! Run: cargo bench -p memwall-engram --bench engram

use std::hint::black_box;
use std::io::Cursor;
use std::time::Instant;

use memwall_engram::trace::{RowsRecord, RowsRecordRef, TraceHeader, TraceReader, TraceWriter};
use memwall_engram::{EngramHasher, EngramLayout, NgramHistory};

fn best_of<F: FnMut() -> f64>(n: usize, mut f: F) -> f64 {
    (0..n).map(|_| f()).fold(0.0, f64::max)
}

fn main() {
    for model in ["v41-flash", "demo"] {
        let layout = EngramLayout::builtin(model).unwrap();
        let h = EngramHasher::new(&layout);
        let vocab = layout.config.compressed_vocab_size as u32;
        let mut x = 0x1234_5678u32;
        let ids: Vec<u32> = (0..1_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x % vocab
            })
            .collect();
        let chunk = 4096;
        let mut out = vec![0u64; chunk * h.columns()];
        let rate = best_of(5, || {
            let t = Instant::now();
            for layer in 0..h.layer_count() {
                let mut hist = NgramHistory::start(&h);
                for c in ids.chunks(chunk) {
                    h.hash_layer_into(layer, &hist, c, &mut out[..c.len() * h.columns()]);
                    for &id in c {
                        hist.push(id);
                    }
                    black_box(&out);
                }
            }
            let n = (ids.len() * h.columns() * h.layer_count()) as f64;
            n / t.elapsed().as_secs_f64()
        });
        println!(
            "hash {model:>10}: {:>7.1} M row ids/s on one core ({} row ids per token per layer)",
            rate / 1e6,
            h.columns()
        );
    }

    // Trace codec: 2,000 steps x 2 layers x 512 tokens of v41-flash rows (~200 MB).
    let layout = EngramLayout::builtin("v41-flash").unwrap();
    let h = EngramHasher::new(&layout);
    let ids: Vec<u32> = (0..512u32).map(|i| (i * 7919) % 99_092).collect();
    let rows = h.hash_sequence(&ids).unwrap();
    let per = ids.len() * h.columns();
    let seq = vec![1u32; ids.len()];
    let pos: Vec<u32> = (0..ids.len() as u32).collect();
    let steps = 2000u64;
    let mut bytes = Vec::new();
    let wrate = best_of(3, || {
        let t = Instant::now();
        let header = TraceHeader::for_layout(&layout, serde_json::Value::Null);
        let mut w = TraceWriter::new(Vec::with_capacity(210 << 20), header).unwrap();
        for step in 0..steps {
            for (li, &layer_id) in h.layer_ids().iter().enumerate() {
                w.write_rows(&RowsRecordRef {
                    step,
                    layer_id,
                    rows: &rows[li * per..(li + 1) * per],
                    token_meta: Some((&seq, &pos)),
                    time_ns: Some((step, step + 1)),
                })
                .unwrap();
            }
        }
        let (_, b) = w.finish().unwrap();
        let mb = b.len() as f64 / 1e6;
        bytes = b;
        mb / t.elapsed().as_secs_f64()
    });
    let rrate = best_of(3, || {
        let t = Instant::now();
        let mut r = TraceReader::new(Cursor::new(&bytes)).unwrap();
        let mut rec = RowsRecord::default();
        let mut n = 0u64;
        while r.next_record(&mut rec).unwrap() {
            n += rec.rows.len() as u64;
        }
        black_box(n);
        bytes.len() as f64 / 1e6 / t.elapsed().as_secs_f64()
    });
    println!(
        "trace write: {wrate:>7.0} MB/s ({:.0} MB, {} records)",
        bytes.len() as f64 / 1e6,
        steps * 2
    );
    println!("trace read:  {rrate:>7.0} MB/s (CRC-checked, range-checked, decoded to u64)");
}
