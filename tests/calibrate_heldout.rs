//! Held-out checks of the op cost model's calibration (issue 10): fit on some kernels of
//! a trace and predict kernels the fit never saw, on the same GPU. A round trip
//! (tests/calibrate_kineto.rs) only shows that the fitted numbers reproduce what they
//! were fitted to; this is the measure of the model itself. Two splits of each shaped
//! trace (the H100 timesformer and the B200 vLLM prefill MIT fixtures):
//!
//! - **by shape**: the distinct (class, shape) pairs, in order of first appearance, go
//!   alternately to the fitting half and the predicted half, so no predicted kernel has a
//!   shape the fit saw;
//! - **by time**: the first half of the shaped kernels (trace order) fits, the second
//!   half is predicted (the same shapes recur: the easier case).
//!
//! Both halves are fitted and predicted in turn. The figures are printed
//! (`-- --nocapture`) and recorded in docs/calibrate.md §3; the bounds keep them from
//! drifting unnoticed.

use memwall_calibrate::{kineto, Overrides};
use memwall_models::cost::{MeasuredOp, Measurements};
use memwall_models::perf::HwRates;
use memwall_models::Registry;
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/traces")
        .join(name)
}

/// The GPU's rates after calibrating `system` on `fit`.
fn calibrated(system: &str, fit: &Measurements, tag: &str) -> HwRates {
    let reg = Registry::embedded().unwrap();
    let sys = reg.system(system).unwrap();
    let mut out = Overrides::new();
    kineto::calibrate(&reg, &sys, fit, "half.json", &mut out).unwrap();
    let dir = std::env::temp_dir().join(format!("memwall-heldout-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in out.files(&["half.json".into()]) {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let user = Registry::with_user_paths(std::slice::from_ref(&dir)).unwrap();
    let rates = HwRates::from_system(&user.system(system).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    rates
}

/// `(total error %, rms error %)` of the model on `r` over `ops`, per kernel class and
/// for all of them (`all`).
fn errors(ops: &[MeasuredOp], r: &HwRates) -> Vec<(String, f64, f64, usize)> {
    let mut rows = Vec::new();
    for class in ["gemm", "attention", "memory", "all"] {
        let on: Vec<&MeasuredOp> = ops
            .iter()
            .filter(|o| class == "all" || o.op.class() == class)
            .collect();
        if on.is_empty() {
            continue;
        }
        let (mut model, mut measured, mut sq) = (0.0, 0.0, 0.0);
        for o in &on {
            let t = o.op.time(r).unwrap().ps as f64;
            model += t;
            measured += o.ps as f64;
            sq += (t / o.ps as f64 - 1.0).powi(2);
        }
        let total = (model / measured - 1.0) * 100.0;
        let rms = (sq / on.len() as f64).sqrt() * 100.0;
        rows.push((class.to_string(), total, rms, on.len()));
    }
    rows
}

/// The shaped kernels of `m` split in two, `by_shape` or by time.
fn halves(m: &Measurements, by_shape: bool) -> [Vec<MeasuredOp>; 2] {
    let mut shapes: Vec<String> = Vec::new();
    let mut halves = [Vec::new(), Vec::new()];
    for (i, o) in m.ops.iter().enumerate() {
        let side = if by_shape {
            let key = format!("{} {:?}", o.op.class(), o.op.shape_columns().1);
            let at = shapes.iter().position(|s| *s == key).unwrap_or_else(|| {
                shapes.push(key);
                shapes.len() - 1
            });
            at % 2
        } else {
            usize::from(i >= m.ops.len() / 2)
        };
        halves[side].push(*o);
    }
    halves
}

/// Fits on each half and predicts the other; returns the worst held-out total error of
/// all kernels, percent, of the split by shape and of the split by time.
fn held_out(trace: &str, system: &str, tag: &str) -> (f64, f64) {
    let reg = Registry::embedded().unwrap();
    let sys = reg.system(system).unwrap();
    let g = memwall_kineto::import_file(fixture(trace)).unwrap();
    let m = memwall_replay::measurements(&g, sys.node.gpu.sms);
    let shipped = HwRates::from_system(&sys);
    let mut worst = [0.0f64; 2];
    for (split, by_shape) in [("shape", true), ("time", false)] {
        let parts = halves(&m, by_shape);
        for (fit, predict) in [(0, 1), (1, 0)] {
            let fit_m = Measurements {
                ops: parts[fit].clone(),
                kernels_ps: m.kernels_ps.clone(),
                launches_ps: m.launches_ps.clone(),
                ..Default::default()
            };
            let r = calibrated(system, &fit_m, tag);
            for (class, total, rms, n) in errors(&parts[predict], &r) {
                let (t0, r0, _) = errors(&parts[predict], &shipped)
                    .into_iter()
                    .find(|e| e.0 == class)
                    .map(|e| (e.1, e.2, e.3))
                    .unwrap();
                println!(
                    "{tag} by {split}, fit half {fit}, predict half {predict}: {class:<9} {n:>4} kernels: \
                     total {total:+7.2}% rms {rms:6.1}% (shipped profile: total {t0:+7.2}% rms {r0:6.1}%)"
                );
                if class == "all" {
                    let w = &mut worst[usize::from(!by_shape)];
                    *w = w.max(total.abs());
                }
            }
        }
    }
    (worst[0], worst[1])
}

/// Kernels of recurring shapes are predicted within 2% in total; unseen shapes are not:
/// -44.5% and -25.8% (docs/calibrate.md §3 says why).
#[test]
fn h100_timesformer_held_out() {
    let (shape, time) = held_out("tracelens-h100-timesformer.json.gz", "dgx-h100", "h100");
    assert!(time < 2.0, "held-out by time: worst total error {time:.2}%");
    assert!(
        shape < 50.0,
        "held-out by shape: worst total error {shape:.2}%"
    );
}

/// Recurring shapes within 8% in total; unseen shapes +220.2% and +12.1%.
#[test]
fn b200_vllm_prefill_held_out() {
    let (shape, time) = held_out("tracelens-b200-vllm-prefill.json.gz", "hgx-b200", "b200");
    assert!(time < 8.0, "held-out by time: worst total error {time:.2}%");
    assert!(
        shape < 250.0,
        "held-out by shape: worst total error {shape:.2}%"
    );
}
