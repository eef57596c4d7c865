//! mHC on a V3-size DualPipe step, and the same step across systems.

use memwall_llm::ModelRegistry;
use memwall_sim::attribute;
use memwall_sim::Ps;
use memwall_train as training;
use memwall_train::{TrainConfig, TrainHw};

fn slot(cfg: &TrainConfig, hw: &TrainHw, plain_p2p: Option<u64>, no_hbm: bool) -> Ps {
    let mut p = training::plan(cfg, hw, &ModelRegistry::builtin()).unwrap();
    if let Some(b) = plain_p2p {
        p.p2p_bytes = b;
    }
    if no_hbm {
        for s in &mut p.stages {
            for l in &mut s.layers {
                l.mhc_f = Ps::ZERO;
                l.mhc_b = Ps::ZERO;
                l.mhc_recompute = Ps::ZERO;
            }
        }
    }
    training::run_step(&p).unwrap().mean_pair_slot().unwrap()
}

/// mHC n = 4 on the V3 step (PP16, N = 40 to keep the test short): added wall time of
/// the overlapped F&B slot, split into its HBM part and its n-fold P2P part. DeepSeek
/// reports 6.7% with its V4 optimisations; docs/training.md explains the gap.
#[test]
fn mhc_added_time_per_overlapped_slot() {
    let mut cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    cfg.micro_batches = 40;
    let hw = TrainHw::shipped(&cfg.system, &cfg).unwrap();
    let base = slot(&cfg, &hw, None, false);
    let plain = training::plan(&cfg, &hw, &ModelRegistry::builtin())
        .unwrap()
        .p2p_bytes;
    cfg.mhc = Some(4);
    let all = slot(&cfg, &hw, None, false);
    let hbm_only = slot(&cfg, &hw, Some(plain), false);
    let p2p_only = slot(&cfg, &hw, None, true);
    let f = |x: Ps| (x.as_ms_f64() / base.as_ms_f64() - 1.0) * 100.0;
    eprintln!(
        "F&B slot: plain {:.3} ms; mHC n=4 {:.3} ms (+{:.1}%); HBM only +{:.1}%; 4x P2P only +{:.1}% (DeepSeek: 6.7%)",
        base.as_ms_f64(),
        all.as_ms_f64(),
        f(all),
        f(hbm_only),
        f(p2p_only)
    );
    assert!(f(all) > 2.0 && f(all) < 30.0, "{}", f(all));
    assert!(f(hbm_only) > 0.0 && f(p2p_only) >= 0.0);
}

/// The V3 step on every shipped system: every run's invariants hold and the table is sane.
#[test]
fn v3_step_across_systems() {
    let mut cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    cfg.micro_batches = 40;
    let mut steps = Vec::new();
    let names = training::hw::shipped_systems().unwrap();
    for name in [
        "deepseek-h800-cluster",
        "hgx-b200",
        "gb200-nvl72",
        "vr200-nvl72",
    ] {
        assert!(names.iter().any(|n| n == name), "{name} shipped");
    }
    for name in &names {
        // Single-node serving boxes (rtx4090-1x, rtxpro6000-2x-pcie) have no NIC to train
        // across nodes on: they are refused by name, not simulated.
        let hw = match TrainHw::shipped(name, &cfg) {
            Err(training::TrainError::NoNic { system }) => {
                assert_eq!(&system, name);
                continue;
            }
            other => other.unwrap(),
        };
        let run =
            training::run_step(&training::plan(&cfg, &hw, &ModelRegistry::builtin()).unwrap())
                .unwrap();
        let a = attribute(&run.timeline, (Ps::ZERO, run.step_time));
        for s in &a.streams {
            assert_eq!(s.busy.0 + s.exposed_total().0 + s.bubble.0, s.makespan.0);
        }
        for o in &a.ops {
            assert!(o.exposed <= o.latency);
        }
        steps.push((name.clone(), run.step_time));
    }
    // Faster GPUs make shorter steps; NVL72 keeps EP64 inside NVLink.
    let t = |n: &str| steps.iter().find(|(s, _)| s == n).unwrap().1;
    assert!(t("vr200-nvl72") < t("gb200-nvl72"));
    assert!(t("gb200-nvl72") < t("hgx-b200"));
    assert!(t("hgx-b200") <= t("deepseek-h800-cluster"));
}
