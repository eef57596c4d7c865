//! Importer checks on real captures: two MIT traces copied as fixtures, and the unlicensed
//! DeepSeek-V3 training trace read from `../shared/data/` when present (never copied).

use memwall_kineto::*;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/traces")
        .join(name)
}

fn ms(ns: i64) -> f64 {
    ns as f64 / 1e6
}

fn close(actual_ns: i64, expected_ms: f64, rel: f64) -> bool {
    (ms(actual_ns) - expected_ms).abs() <= expected_ms * rel
}

#[test]
fn hta_a100_ddp_nccl() {
    let g = import_file(fixture("hta-a100-ddp-nccl.json.gz")).unwrap();
    assert_eq!(g.meta.gpu_name.as_deref(), Some("NVIDIA A100-PG509-200"));
    assert_eq!(g.meta.device_properties[0].num_sms, Some(108));
    assert_eq!((g.meta.rank, g.meta.world_size), (Some(0), Some(2)));
    assert_eq!(g.meta.base_time_ns, Some(1_711_964_646_000_000_000));
    assert_eq!(g.ops.len(), 3774);
    assert_eq!(g.stats.launched_ops, 3774);
    assert_eq!(g.stats.same_stream_overlaps, 0);
    // NCCL kernel with ns-precision relative ts: 4458677009853.422 us + base.
    let ar = g
        .ops
        .iter()
        .find(|o| o.correlation == Some(60047))
        .expect("the first all-reduce kernel");
    assert_eq!(
        ar.start_ns,
        1_711_964_646_000_000_000 + 4_458_677_009_853_422
    );
    assert_eq!(ar.dur_ns, 2_636_669);
    assert_eq!(ar.class, OpClass::Communication(CommCategory::AllReduce));
    let m = ar.comm.as_ref().unwrap();
    assert_eq!(m.in_nelems, Some(6_637_568));
    assert_eq!(m.dtype.as_deref(), Some("Float"));
    assert_eq!(m.in_bytes(), Some(6_637_568 * 4));
    assert_eq!(m.group_size, Some(2));
    assert_eq!(m.pg_ranks.as_deref(), Some(&[0, 1][..]));
    let comm_ops = g.ops.iter().filter(|o| o.class.is_comm()).count();
    assert_eq!(comm_ops, 21);
    assert!(g
        .ops
        .iter()
        .filter(|o| o.class.is_comm())
        .all(|o| o.stream == 40));

    let dm = g.metrics();
    let d = dm.device(0).unwrap();
    // traces.md §1.2: overlap 7.3 / 46.9 ms = 16 %
    assert!(
        close(d.comm_overlap.busy_ns, 46.9, 0.01),
        "{:?}",
        d.comm_overlap
    );
    assert!(
        close(d.comm_overlap.hidden_ns, 7.3, 0.01),
        "{:?}",
        d.comm_overlap
    );
    assert_eq!(
        d.streams.iter().map(|s| s.stream).collect::<Vec<_>>(),
        vec![7, 40]
    );
    assert!(d.by_phase.contains_key("nccl:all_reduce"));
    assert!(g.devices[0].launch_bound);
    eprintln!(
        "HTA A100: span {:.3} ms, comm {:.3} ms, hidden {:.3} ms, exposed {:.3} ms",
        ms(d.span_ns),
        ms(d.comm_overlap.busy_ns),
        ms(d.comm_overlap.hidden_ns),
        ms(d.comm_overlap.exposed_ns)
    );
}

#[test]
fn tracelens_b200_vllm_prefill() {
    let g = import_file(fixture("tracelens-b200-vllm-prefill.json.gz")).unwrap();
    assert_eq!(g.meta.gpu_name.as_deref(), Some("NVIDIA B200"));
    assert_eq!(g.meta.device_properties[0].num_sms, Some(148));
    // no process/thread metadata events in this trace
    assert_eq!(g.stats.raw.metadata, 0);
    assert_eq!(g.ops.len(), 929);
    assert!(g.ops.iter().all(|o| (o.device, o.stream) == (0, 7)));
    let ar = g
        .ops
        .iter()
        .filter(|o| o.class == OpClass::Communication(CommCategory::AllReduce))
        .count();
    assert_eq!(ar, 73);
    let ag = g
        .ops
        .iter()
        .find(|o| o.class == OpClass::Communication(CommCategory::AllGather))
        .unwrap();
    assert_eq!(ag.comm.as_ref().unwrap().group_size, Some(8));
    let dm = g.metrics();
    let d = dm.device(0).unwrap();
    // traces.md §1.3: comm 2.14 ms, 0 % overlap (all-reduce on the compute stream)
    assert!(
        close(d.comm_overlap.busy_ns, 2.14, 0.01),
        "{:?}",
        d.comm_overlap
    );
    assert_eq!(d.comm_overlap.hidden_ns, 0);
    assert!(g.devices[0].launch_bound);
    eprintln!(
        "TraceLens B200: span {:.3} ms, busy {:.3} ms, comm {:.3} ms, hidden {:.3} ms",
        ms(d.span_ns),
        ms(d.busy_ns),
        ms(d.comm_overlap.busy_ns),
        ms(d.comm_overlap.hidden_ns)
    );
}

/// The DeepSeek-V3 training trace has no license: read from ../shared/data only when present.
#[test]
fn deepseek_v3_train_h800() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/deepseek-v3-train-h800.json");
    let path = if path.exists() {
        path
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/data/deepseek-v3-train-h800.json")
    };
    if !path.exists() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("CI=true but {} is missing", path.display());
        }
        eprintln!(
            "SKIPPED deepseek_v3_train_h800: {} not present",
            path.display()
        );
        return;
    }
    let g = import_file(&path).unwrap();
    assert_eq!(g.meta.gpu_name.as_deref(), Some("NVIDIA H800"));
    assert_eq!(g.meta.device_properties.len(), 8);
    assert_eq!(g.meta.device_properties[0].num_sms, Some(132));
    assert_eq!(g.meta.world_size, Some(64));
    assert_eq!(g.ops.len(), 983);
    assert_eq!(g.stats.ops_with_phase, 983, "every kernel gets a phase");
    let dev = &g.devices[0];
    let streams: Vec<(i64, usize)> = dev
        .streams
        .iter()
        .map(|s| (s.stream, s.ops.len()))
        .collect();
    assert_eq!(streams, vec![(7, 927), (23, 16), (27, 40)]);
    assert!(!dev.launch_bound, "GPU-bound: launch-to-start ~15 ms");
    // weight-grad GEMMs on stream 23 with 112 = 132 - 20 CTAs
    let s23 = &dev.streams[1];
    assert!(s23
        .ops
        .iter()
        .all(|&i| g.ops[i as usize].class == OpClass::Gemm));
    let ctas = |o: &GpuOp| o.grid.map(|[x, y, z]| x * y * z);
    assert!(s23
        .ops
        .iter()
        .all(|&i| ctas(&g.ops[i as usize]) == Some(112)));
    // DeepEP kernels on stream 27 with 20 CTAs
    let ep: Vec<&GpuOp> = g.ops.iter().filter(|o| o.class.is_comm()).collect();
    assert_eq!(ep.len(), 32);
    assert!(ep.iter().all(|o| o.stream == 27));
    assert_eq!(ep.iter().filter(|o| o.grid == Some([20, 1, 1])).count(), 28);

    let m = g.metrics();
    let d = m.device(0).unwrap();
    // traces.md §1.1: span 129.0 ms, comm 113.0, compute 124.3, hidden 108.9, exposed 4.2,
    // GPU busy union 128.5 ms.
    assert!(close(d.span_ns, 129.0, 0.002), "span {}", ms(d.span_ns));
    assert!(close(d.busy_ns, 128.5, 0.002));
    assert!(close(d.comm_overlap.busy_ns, 113.0, 0.002));
    assert!(close(d.comm_overlap.compute_ns, 124.3, 0.002));
    assert!(close(d.comm_overlap.hidden_ns, 108.9, 0.002));
    assert!(close(d.comm_overlap.exposed_ns, 4.2, 0.02));
    // phase totals in us (traces.md §1.1)
    for (phase, us) in [
        ("attn(F)", 17_479),
        ("attn(B)", 37_363),
        ("attn(W)", 9_554),
        ("mlp(F)", 18_415),
        ("mlp(B)", 21_224),
        ("dispatch(F)", 26_761),
        ("dispatch(B)", 29_947),
        ("combine(F)", 34_736),
        ("combine(B)", 23_077),
    ] {
        assert_eq!(d.by_phase[phase].total_ns, us * 1000, "{phase}");
    }
    assert_eq!(
        d.by_stream_phase[&(7, "mlp(W)".to_string())].total_ns,
        14_158_000
    );
    assert_eq!(
        d.by_stream_phase[&(23, "mlp(W)".to_string())].total_ns,
        11_355_000
    );
    for p in ["dispatch(F)", "dispatch(B)", "combine(F)", "combine(B)"] {
        assert!(
            d.by_stream_phase
                .keys()
                .filter(|(_, q)| q == p)
                .all(|(s, _)| *s == 27),
            "{p}"
        );
    }
    // Cross-stream dependencies: no GPU-side records, 56 CPU stream-wait calls.
    assert!(g.syncs.is_empty());
    let inferred = g
        .deps
        .iter()
        .filter(|d| d.kind == DepKind::InferredWaitCall)
        .count();
    assert!(inferred >= 40, "{inferred}");
    for dep in &g.deps {
        let (a, b) = (&g.ops[dep.from as usize], &g.ops[dep.to as usize]);
        assert_ne!(a.stream, b.stream);
        assert!(a.end_ns() <= b.start_ns);
    }
    eprintln!(
        "DeepSeek H800: span {:.3} ms, comm {:.3} ms, hidden {:.3} ms, exposed {:.3} ms, deps {}",
        ms(d.span_ns),
        ms(d.comm_overlap.busy_ns),
        ms(d.comm_overlap.hidden_ns),
        ms(d.comm_overlap.exposed_ns),
        g.deps.len()
    );
}
