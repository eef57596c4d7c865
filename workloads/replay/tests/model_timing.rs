//! Replay's two timing modes on the MIT fixtures: collectives with a recorded size go
//! through `collective::predict` (ratio of the two systems' predictions, or the target's
//! absolute time under `Timing::Model`), and model timing prices every shaped kernel by
//! the op cost model.

use memwall_kineto::{import_file, OpClass, TraceGraph};
use memwall_models::collective::{predict, Collective};
use memwall_models::perf::HwRates;
use memwall_models::{Registry, SystemSpec};
use memwall_replay::retime::comm_bytes_and_group;
use memwall_replay::*;
use std::path::PathBuf;

fn fixture(name: &str) -> TraceGraph {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/traces")
        .join(name);
    import_file(&p).unwrap()
}

fn opts(src: &SystemSpec, tgt: SystemSpec, timing: Timing) -> ReplayOptions {
    ReplayOptions {
        source: HwRates::from_system(src),
        source_system: Some(src.clone()),
        target: tgt,
        timing,
        launch: LaunchMode::Auto,
        mhc: None,
        engram: None,
    }
}

fn all_reduce_time(sys: &SystemSpec, bytes: u64, ranks: u32) -> u64 {
    predict(sys, Collective::AllReduce, bytes, ranks, None, None)
        .unwrap()
        .time_ps
}

#[test]
fn sized_all_reduces_scale_by_the_collective_model() {
    let g = fixture("hta-a100-ddp-nccl.json.gz");
    let reg = Registry::embedded().unwrap();
    let (a100, h100) = (
        reg.system("hgx-a100").unwrap(),
        reg.system("dgx-h100").unwrap(),
    );
    let ratio = replay(&g, &opts(&a100, h100.clone(), Timing::Ratio)).unwrap();
    let model = replay(&g, &opts(&a100, h100.clone(), Timing::Model)).unwrap();
    let (mut want_ratio, mut want_model) = (0f64, 0f64);
    for op in g
        .ops
        .iter()
        .filter(|o| o.class == OpClass::Communication(memwall_kineto::CommCategory::AllReduce))
    {
        let (bytes, ranks) = comm_bytes_and_group(op).unwrap();
        let (s, t) = (
            all_reduce_time(&a100, bytes, ranks),
            all_reduce_time(&h100, bytes, ranks),
        );
        want_ratio += op.dur_ns as f64 * t as f64 / s as f64;
        want_model += t as f64 / 1000.0;
    }
    let row = |out: &ReplayOutput, scaling: &str| {
        out.scaling
            .iter()
            .find(|r| r.class == "comm:all-reduce" && r.scaling == scaling)
            .unwrap_or_else(|| panic!("no {scaling} row: {:?}", out.scaling))
            .target_ns as f64
    };
    let r = row(&ratio, "collective-model");
    let m = row(&model, "model-collective");
    assert!((r / want_ratio - 1.0).abs() < 1e-3, "{r} vs {want_ratio}");
    assert!((m / want_model - 1.0).abs() < 1e-3, "{m} vs {want_model}");
    // The recorded all-reduces include waits for the other rank: the model alone is far
    // shorter, and says so in its share.
    assert!(m < r);
    let (from_model, all) = model.model_share_ns();
    assert!(from_model > 0 && from_model < all);
}

#[test]
fn model_timing_prices_shaped_kernels_and_stays_deterministic() {
    let g = fixture("tracelens-b200-vllm-prefill.json.gz");
    let reg = Registry::embedded().unwrap();
    let b200 = reg.system("hgx-b200").unwrap();
    let a = replay(&g, &opts(&b200, b200.clone(), Timing::Model)).unwrap();
    let classes: Vec<&str> = a
        .scaling
        .iter()
        .filter(|r| r.model)
        .map(|r| r.scaling.as_str())
        .collect();
    for want in ["model-gemm", "model-memory", "model-collective"] {
        assert!(classes.contains(&want), "{classes:?}");
    }
    // Unshaped kernels keep their recorded durations on their own hardware.
    for r in a.scaling.iter().filter(|r| !r.model) {
        assert_eq!(r.source_ns, r.target_ns, "{r:?}");
    }
    let b = replay(&g, &opts(&b200, b200.clone(), Timing::Model)).unwrap();
    assert_eq!(a.timeline.records, b.timeline.records);
    // Ratio timing on the source hardware stays the identity.
    let id = replay(&g, &opts(&b200, b200.clone(), Timing::Ratio)).unwrap();
    assert_eq!(id.metrics[0].span_ps, id.original_metrics[0].span_ps);
}
