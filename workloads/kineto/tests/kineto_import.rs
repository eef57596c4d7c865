//! Importer tests on small hand-written fixtures and small MIT fixtures from HTA.

use memwall_kineto::*;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/traces")
        .join(name)
}

fn import(name: &str) -> TraceGraph {
    import_file(fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn err(name: &str) -> KinetoError {
    match import_file(fixture(name)) {
        Ok(_) => panic!("{name} imported without error"),
        Err(e) => e,
    }
}

fn op_named<'a>(g: &'a TraceGraph, needle: &str) -> &'a GpuOp {
    g.ops
        .iter()
        .find(|o| g.op_name(o).contains(needle))
        .unwrap_or_else(|| panic!("no op {needle}"))
}

const BASE: i64 = 1_700_000_000_000_000_000;

#[test]
fn handmade_ops_times_and_classes() {
    let g = import("handmade-two-streams.json");
    assert_eq!(g.ops.len(), 6);
    let gemm = op_named(&g, "xmma_gemm");
    // relative fractional us + baseTimeNanoseconds (which follows traceEvents in the file)
    assert_eq!(gemm.start_ns, BASE + 1_010_123);
    assert_eq!(gemm.dur_ns, 30_500);
    assert_eq!((gemm.device, gemm.stream), (0, 7));
    assert_eq!(gemm.class, OpClass::Gemm);
    assert_eq!(gemm.class.bound(), Bound::Compute);
    assert_eq!(gemm.grid, Some([132, 1, 1]));
    assert_eq!(g.phase_label(gemm), Some("attn(F)"));
    let l = gemm.launch.as_ref().unwrap();
    assert_eq!(l.start_ns, BASE + 1_003_250);
    assert_eq!(g.name(l.api), "cudaLaunchKernel");
    assert!(!l.graph);

    let cp = op_named(&g, "Memcpy HtoD");
    assert_eq!(
        cp.kind,
        OpKind::Memcpy {
            dir: CopyDir::HostToDevice,
            bytes: Some(65536),
            pinned: Some(true)
        }
    );
    assert_eq!(cp.class, OpClass::Copy(CopyDir::HostToDevice));
    let ms = op_named(&g, "Memset");
    assert_eq!(ms.kind, OpKind::Memset { bytes: Some(512) });

    let disp = op_named(&g, "ep::internode::dispatch");
    assert_eq!(disp.class, OpClass::Communication(CommCategory::EpDispatch));
    assert_eq!(g.phase_label(disp), Some("dispatch(F)"));
    let nccl = op_named(&g, "ncclDevKernel_AllReduce");
    assert_eq!(nccl.class, OpClass::Communication(CommCategory::AllReduce));
    let m = nccl.comm.as_ref().unwrap();
    assert_eq!(m.collective.as_deref(), Some("allreduce"));
    assert_eq!(m.group_size, Some(8));
    assert_eq!(m.in_bytes(), Some(2048));
    assert_eq!(m.pg_ranks.as_deref(), Some(&[0, 1, 2, 3, 4, 5, 6, 7][..]));
    assert_eq!(
        (m.algorithm.as_deref(), m.protocol.as_deref()),
        (Some("RING"), Some("LL"))
    );
    assert_eq!(
        op_named(&g, "vectorized_elementwise").class,
        OpClass::Elementwise
    );
}

#[test]
fn handmade_meta_stats_and_recorded_dependency() {
    let g = import("handmade-two-streams.json");
    assert_eq!(g.meta.gpu_name.as_deref(), Some("NVIDIA H800"));
    assert_eq!(g.devices[0].props.as_ref().unwrap().num_sms, Some(132));
    assert_eq!((g.meta.rank, g.meta.world_size), (Some(3), Some(8)));
    assert_eq!(g.meta.trace_name.as_deref(), Some("handmade"));
    assert_eq!(g.meta.base_time_ns, Some(BASE));
    assert_eq!(g.stats.raw.ignored_phase, 2);
    assert_eq!(g.stats.raw.metadata, 1);
    assert_eq!(g.stats.raw.no_phase, 1);
    // the cpu_op with recorded shapes is kept (for the GEMM it launched), not skipped
    assert_eq!(g.stats.raw.skipped_complete, 1);
    let gemm = op_named(&g, "sm90_xmma_gemm");
    let shape = gemm
        .shape
        .as_deref()
        .expect("the launching aten::mm's shapes");
    assert_eq!(g.name(shape.op), "aten::mm");
    assert_eq!(shape.inputs, vec![vec![vec![4, 4]], vec![vec![4, 4]]]);
    assert_eq!(g.syncs.len(), 1);
    assert_eq!(g.gpu_annotations.len(), 1);
    // cuda_sync "Stream Wait Event": stream 27 waits for the event recorded (corr 104)
    // after the memset (corr 103) on stream 7; the first op launched after the wait
    // (corr 106) is the dispatch kernel.
    assert_eq!(g.deps.len(), 1, "{:?}", g.deps);
    let d = g.deps[0];
    assert_eq!(d.kind, DepKind::RecordedWait);
    assert!(g.op_name(&g.ops[d.from as usize]).starts_with("Memset"));
    assert!(g.op_name(&g.ops[d.to as usize]).contains("dispatch"));
    // streams in order, ops in start order
    let s: Vec<i64> = g.devices[0].streams.iter().map(|s| s.stream).collect();
    assert_eq!(s, vec![7, 27]);
    for st in &g.devices[0].streams {
        for w in st.ops.windows(2) {
            assert!(g.ops[w[0] as usize].start_ns <= g.ops[w[1] as usize].start_ns);
        }
    }
}

#[test]
fn handmade_metrics() {
    let g = import("handmade-two-streams.json");
    let m = g.metrics();
    let d = m.device(0).unwrap();
    assert_eq!(d.span_ns, 109_877);
    assert_eq!(d.first_start_ns, BASE + 1_010_123);
    let busy: Vec<(i64, i64)> = d.streams.iter().map(|s| (s.stream, s.busy_ns)).collect();
    assert_eq!(busy, vec![(7, 95_500), (27, 70_000)]);
    assert_eq!(d.comm_overlap.busy_ns, 70_000);
    assert_eq!(d.comm_overlap.hidden_ns, 56_000);
    assert_eq!(d.comm_overlap.exposed_ns, 14_000);
    assert_eq!(d.by_phase["attn(F)"].total_ns, 35_500);
    assert_eq!(d.by_phase["dispatch(F)"].total_ns, 130_000);
    assert_eq!(d.by_class["comm:ep-dispatch"].total_ns, 50_000);
    assert_eq!(d.copy_overlap[&CopyDir::HostToDevice].busy_ns, 4_000);
}

#[test]
fn gzip_is_detected_by_magic_bytes() {
    let a = import("handmade-two-streams.json");
    let b = import("handmade-two-streams.json.gz");
    assert_eq!(a.ops, b.ops);
    assert_eq!(a.deps, b.deps);
    // and a name without `.gz` holding gzip data works too
    let bytes = std::fs::read(fixture("handmade-two-streams.json.gz")).unwrap();
    let c = import_bytes(&bytes, "in-memory").unwrap();
    assert_eq!(a.ops, c.ops);
}

#[test]
fn bare_array_root_without_metadata() {
    let g = import("no-metadata-array-root.json");
    assert_eq!(g.ops.len(), 3);
    assert_eq!(g.meta.gpu_name, None);
    let ln = op_named(&g, "ln_fwd");
    assert_eq!(ln.start_ns, 1_740_461_679_470_640_000);
    assert_eq!((ln.device, ln.stream), (1, 3));
    assert_eq!(ln.class, OpClass::Normalization);
    assert_eq!(op_named(&g, "reduce_kernel").class, OpClass::Reduction);
    assert_eq!(op_named(&g, "reduce_kernel").dur_ns, 0);
    assert!(op_named(&g, "orphan").launch.is_none());
    let m = g.metrics();
    assert_eq!(m.device(1).unwrap().span_ns, 65_000);
    assert_eq!(g.devices[0].median_launch_to_start_ns, Some(10_000));
    assert!(g.devices[0].launch_bound);
}

#[test]
fn legacy_categories_link_through_flows() {
    let g = import("legacy-categories.json");
    assert_eq!(g.ops.len(), 3);
    assert!(g.ops.iter().all(|o| (o.device, o.stream) == (0, 7)));
    let k = op_named(&g, "vectorized_elementwise");
    assert_eq!(k.correlation, Some(900));
    assert_eq!(k.external_id, Some(7));
    let l = k
        .launch
        .as_ref()
        .expect("launch linked through the async/launch flow");
    assert_eq!(g.name(l.api), "cudaLaunchKernel");
    assert_eq!(g.threads[l.thread as usize], "100/thread 1");
    let cp = op_named(&g, "Memcpy DtoH");
    assert_eq!(
        cp.kind,
        OpKind::Memcpy {
            dir: CopyDir::DeviceToHost,
            bytes: Some(4),
            pinned: Some(false)
        }
    );
}

#[test]
fn rocm_hip_names_and_graph_launch() {
    let g = import("rocm-hip.json");
    assert_eq!(g.ops.len(), 4);
    assert_eq!(g.meta.gpu_name.as_deref(), Some("AMD Instinct MI300X"));
    let gemm = op_named(&g, "Cijk_");
    assert_eq!((gemm.device, gemm.stream), (2, 3));
    assert_eq!(gemm.class, OpClass::Gemm);
    assert_eq!(gemm.graph_id, Some(4));
    assert_eq!(gemm.start_ns, 1_711_964_646_000_000_000 + 110_250);
    let l = gemm.launch.as_ref().unwrap();
    assert!(l.graph);
    assert_eq!(g.name(l.api), "hipGraphLaunch");
    assert_eq!(op_named(&g, "paged_attention").class, OpClass::Attention);
    // one graph launch, three kernels
    assert_eq!(
        g.ops.iter().filter(|o| o.correlation == Some(77)).count(),
        3
    );
    assert!(op_named(&g, "ncclDevKernel_Generic").class.is_comm());
    assert!(g
        .ops
        .iter()
        .all(|o| g.phase_label(o) == Some("step[DECODE bs=32]")));
}

#[test]
fn hta_cuda_event_sync_records_cross_stream_waits() {
    let g = import("hta-cuda-event-sync-multi-stream.json.gz");
    assert!(g.syncs.iter().any(|s| s.kind == "Stream Wait Event"));
    assert!(g.syncs.iter().any(|s| s.kind == "Context Sync"));
    let rec: Vec<_> = g
        .deps
        .iter()
        .filter(|d| d.kind == DepKind::RecordedWait)
        .collect();
    assert!(!rec.is_empty());
    for d in rec {
        let (a, b) = (&g.ops[d.from as usize], &g.ops[d.to as usize]);
        assert_ne!(a.stream, b.stream);
        assert!(a.end_ns() <= b.start_ns, "{a:?} -> {b:?}");
    }
    assert!(g.deps.iter().any(|d| {
        let (a, b) = (&g.ops[d.from as usize], &g.ops[d.to as usize]);
        d.kind == DepKind::RecordedWait && a.stream == 20 && b.stream == 24
    }));
}

#[test]
fn hta_legacy_inference_trace() {
    let g = import("hta-legacy-inference-rank-1.json.gz");
    assert!(!g.ops.is_empty());
    assert!(g.ops.iter().all(|o| o.launch.is_some()));
}

#[test]
fn hta_amd_mi250_rocm_trace() {
    let g = import("hta-amd-mi250-rocm6.json.gz");
    assert_eq!(g.meta.gpu_name.as_deref(), Some("AMD Radeon Graphics"));
    assert!(g.ops.iter().all(|o| o.device == 2));
    assert!(g.ops.iter().any(|o| matches!(
        o.kind,
        OpKind::Memcpy {
            dir: CopyDir::HostToDevice,
            ..
        }
    )));
    assert!(g.ops.iter().filter(|o| o.launch.is_some()).count() * 10 >= g.ops.len() * 9);
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

fn offset_of(name: &str, needle: &str) -> u64 {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    text.find(needle).unwrap() as u64
}

#[test]
fn unknown_phase_is_an_error_with_offset() {
    let e = err("bad-unknown-phase.json");
    assert_eq!(e.kind, ErrorKind::UnknownPhase);
    assert_eq!(e.line, Some(3));
    // the offset points inside the offending event, just after the `ph` value
    let ev = offset_of("bad-unknown-phase.json", r#"{"ph": "Q""#);
    assert_eq!(e.offset, Some(ev + 10), "{e}");
    let s = e.to_string();
    assert!(
        s.contains("bad-unknown-phase.json") && s.contains("\"Q\"") && s.contains("byte"),
        "{s}"
    );
}

#[test]
fn negative_duration_is_an_error_with_offset() {
    let e = err("bad-negative-dur.json");
    assert_eq!(e.kind, ErrorKind::NegativeDuration);
    assert_eq!(e.line, Some(3));
    // just after the `dur` value
    let at = offset_of("bad-negative-dur.json", "-2.5") + 4;
    assert_eq!(e.offset, Some(at), "{e}");
    assert!(e.to_string().contains("negative duration"), "{e}");
}

#[test]
fn malformed_json_names_line_and_column() {
    let e = err("bad-malformed.json");
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(e.line, Some(3));
    assert_eq!(e.column, Some(1));
    assert!(e.to_string().contains("bad-malformed.json: byte"), "{e}");
}

#[test]
fn truncated_json_is_reported() {
    let e = err("bad-truncated.json");
    assert_eq!(e.kind, ErrorKind::Truncated);
    let off = e.offset.unwrap();
    assert!((299..=300).contains(&off), "{e}");
}

#[test]
fn truncated_gzip_is_reported() {
    let e = err("bad-truncated.json.gz");
    assert_eq!(e.kind, ErrorKind::Gzip, "{e}");
    assert!(e.line.is_some() && e.offset.is_some(), "{e}");
    assert!(e.to_string().contains("gzip"), "{e}");
}

#[test]
fn in_memory_errors_name_offset_from_line_and_column() {
    let text = std::fs::read(fixture("bad-unknown-phase.json")).unwrap();
    let e = import_bytes(&text, "mem.json").unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownPhase);
    assert_eq!(e.line, Some(3));
    let line3 = offset_of("bad-unknown-phase.json", r#"{"ph": "Q""#);
    let off = e.offset.unwrap();
    assert!(off > line3 && off < line3 + 20, "{e}");
    let text = std::fs::read(fixture("bad-malformed.json")).unwrap();
    let e = import_bytes(&text, "mem.json").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax);
    assert_eq!(
        e.offset,
        Some(offset_of(
            "bad-malformed.json",
            r#"{"ph": "X", "cat": "kernel", "name": "k2""#
        ))
    );
}

#[test]
fn bad_timestamp_is_reported() {
    let e = err("bad-bad-timestamp.json");
    assert_eq!(e.kind, ErrorKind::BadTime);
    assert!(e.to_string().contains("soon"), "{e}");
}

#[test]
fn shape_errors_and_missing_file() {
    for (text, kind) in [
        (&b"{\"traceEvents\": 5}"[..], ErrorKind::Shape),
        (b"{\"foo\": 1}", ErrorKind::Shape),
        (b"[1, 2]", ErrorKind::Shape),
        (b"", ErrorKind::Truncated),
        (b"{\"traceEvents\": []} trailing", ErrorKind::Syntax),
    ] {
        let e = import_bytes(text, "mem").expect_err(std::str::from_utf8(text).unwrap());
        assert_eq!(e.kind, kind, "{e}");
    }
    let e = import_file(fixture("does-not-exist.json")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Io);
}

#[test]
fn every_prefix_of_a_trace_fails_cleanly_never_panics() {
    let text = std::fs::read(fixture("handmade-two-streams.json")).unwrap();
    // A strict prefix of the document (before its trailing whitespace) never closes the
    // root: every one is an error.
    let end = text.trim_ascii_end().len();
    for n in (0..end).step_by(7) {
        assert!(
            import_bytes(&text[..n], "prefix").is_err(),
            "prefix of {n} bytes"
        );
    }
    // Before the 8-byte gzip trailer the deflate stream is incomplete.
    let gz = std::fs::read(fixture("handmade-two-streams.json.gz")).unwrap();
    for n in 0..gz.len().saturating_sub(8) {
        assert!(
            import_bytes(&gz[..n], "gz-prefix").is_err(),
            "gzip prefix of {n} bytes"
        );
    }
}
