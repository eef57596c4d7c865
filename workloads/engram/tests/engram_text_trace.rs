//! Text and synthetic traces end to end.

#[path = "../../../tests/common/inputs.rs"]
mod common_inputs;

use std::io::Cursor;

use common_inputs::fetched;
use memwall_engram::trace::{RowsRecord, TraceReader};
use memwall_engram::{
    trace_synthetic, write_text_trace_file, EngramLayout, ServingSchedule, SyntheticSpec,
    TextTraceOptions,
};

#[test]
fn synthetic_trace_is_deterministic_and_valid() {
    let layout = EngramLayout::builtin("v41-flash").unwrap();
    let spec = SyntheticSpec {
        requests: 6,
        tokens_per_request: 300,
        ..SyntheticSpec::new(42, 99_092)
    };
    let sched = ServingSchedule {
        prompt_tokens: 200,
        decode_tokens: 100,
        prefill_chunk: 64,
        max_batch_tokens: 128,
        max_running: 4,
    };
    let (s1, t1, a) = trace_synthetic(&layout, &spec, &sched, Vec::new()).unwrap();
    let (_, _, b) = trace_synthetic(&layout, &spec, &sched, Vec::new()).unwrap();
    assert_eq!(a, b, "same seed, same bytes");
    assert_eq!(s1.tokens, 6 * 300);
    assert_eq!(s1.requests, 6);
    assert_eq!(t1.token_lookups, 2 * 6 * 300);
    let mut r = TraceReader::new(Cursor::new(&a)).unwrap();
    r.header().check_layout(&layout).unwrap();
    assert_eq!(r.header().source["kind"], "synthetic");
    let mut rec = RowsRecord::default();
    let mut tokens = 0;
    while r.next_record(&mut rec).unwrap() {
        assert!(rec.n_tokens <= 128);
        tokens += u64::from(rec.n_tokens);
    }
    assert_eq!(tokens, 2 * 6 * 300);
}

/// Shakespeare through the real V4 tokenizer into a v41-flash trace, and the wrong
/// tokenizer for a model is a clear error with no output file left behind.
#[test]
fn shakespeare_text_trace() {
    let (Some(tok), Some(v3), Some(play)) = (
        fetched("deepseek-v4/tokenizer.json"),
        fetched("deepseek-v3/tokenizer.json"),
        fetched("shakespeare/macbeth.md"),
    ) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("memwall-text-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("macbeth.mwet");
    let opts = TextTraceOptions {
        schedule: ServingSchedule {
            prompt_tokens: 512,
            decode_tokens: 64,
            prefill_chunk: 256,
            max_batch_tokens: 1024,
            max_running: 8,
        },
        add_bos: true,
    };
    let (s, _) =
        write_text_trace_file("v41-flash", &tok, std::slice::from_ref(&play), &opts, &out).unwrap();
    assert!(s.tokens > 20_000, "{s:?}");
    let mut r = TraceReader::open(&out).unwrap();
    r.header()
        .check_layout(&EngramLayout::builtin("v41-flash").unwrap())
        .unwrap();
    let mut rec = RowsRecord::default();
    let mut n = 0;
    while r.next_record(&mut rec).unwrap() {
        n += u64::from(rec.n_tokens);
    }
    assert_eq!(n, 2 * s.tokens);

    let bad = dir.join("bad.mwet");
    let e = write_text_trace_file("v41-flash", &v3, &[play], &opts, &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("98627") && e.contains("99092"), "{e}");
    assert!(!bad.exists());
    std::fs::remove_dir_all(&dir).ok();
}
