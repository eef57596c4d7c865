//! Training execution on the DES: README bubble formulas in the equal-cost case, the
//! pinned value for unequal costs, and full-step sanity.

use memwall_llm::ModelRegistry;
use memwall_pipeline::analytic::{list_schedule, OpCosts};
use memwall_pipeline::{Schedule, ScheduleKind};
use memwall_sim::Ps;
use memwall_train as training;
use memwall_train::{simulate_abstract, TrainConfig, TrainHw};

fn costs(f: u64, b: u64, w: u64, fb: u64) -> OpCosts {
    OpCosts {
        forward: f,
        backward_full: b,
        weight: w,
        forward_backward: fb,
        p2p_latency: 0,
    }
}

/// F = B_input = W (B = 2F), free communication: per-rank idle (makespan - busy) is
/// exactly (PP/2-1)(F&B+B-3W) on every rank, for DualPipe on PP ranks and DualPipeV on
/// PP/2 devices. Costs in half units so F&B = 2.5F is integral; 1 unit = 1 us.
#[test]
fn dualpipe_bubble_formula_exact_on_the_des() {
    let u = 1_000_000; // ps per unit
    for pp in [4u32, 8, 16] {
        let n = 2 * pp + 8;
        for fb in [4u64, 5, 6] {
            let c = costs(2 * u, 4 * u, 2 * u, fb * u);
            let want = Ps((pp as u64 / 2 - 1) * (fb + 4 - 6) * u);
            for kind in [ScheduleKind::DualPipe, ScheduleKind::DualPipeV] {
                let s = Schedule::generate(kind, pp, n).unwrap();
                let run = simulate_abstract(&s, &c).unwrap();
                let idle = run.idle();
                assert_eq!(
                    idle.len() as u32,
                    if kind == ScheduleKind::DualPipeV {
                        pp / 2
                    } else {
                        pp
                    }
                );
                assert_eq!(
                    *idle.iter().max().unwrap(),
                    want,
                    "{kind} PP={pp} F&B={fb}/2: {idle:?}"
                );
            }
        }
    }
}

/// With unequal costs the formula is only approximate; the DES value is pinned (and
/// agrees with the zero-resource list scheduler). PP=8, N=20, F=1, B=2, W=0.5, F&B=3:
/// formula (PP/2-1)(F&B+B-3W) = 10.5, simulated 9.5.
#[test]
fn unequal_costs_pinned() {
    let u = 500_000; // half a unit
    let s = Schedule::generate(ScheduleKind::DualPipe, 8, 20).unwrap();
    let c = costs(2 * u, 4 * u, u, 6 * u);
    let run = simulate_abstract(&s, &c).unwrap();
    let idle = *run.idle().iter().max().unwrap();
    let formula = Ps(3 * (6 + 4 - 3) * u);
    assert_eq!(formula, Ps(21 * u));
    assert_eq!(idle, Ps(19 * u), "simulated idle 9.5 units");
    let a = list_schedule(&s, &costs(2, 4, 1, 6)).unwrap();
    assert_eq!(*a.idle_to_makespan().iter().max().unwrap() * u, idle.0);
}

#[test]
fn bad_costs_refused() {
    let s = Schedule::generate(ScheduleKind::DualPipe, 4, 8).unwrap();
    let e = simulate_abstract(&s, &costs(1, 1, 2, 2))
        .unwrap_err()
        .to_string();
    assert!(e.contains("exceeds"), "{e}");
}

fn small_cfg() -> TrainConfig {
    let mut c = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    c.pp = 4;
    c.micro_batches = 8;
    c
}

#[test]
fn full_step_runs_and_is_deterministic() {
    let cfg = small_cfg();
    let hw = TrainHw::shipped(&cfg.system, &cfg).unwrap();
    let p = training::plan(&cfg, &hw, &ModelRegistry::builtin()).unwrap();
    let a = training::run_step(&p).unwrap();
    let b = training::run_step(&p).unwrap();
    assert_eq!(a.step_time, b.step_time);
    assert_eq!(a.timeline.records, b.timeline.records);
    assert_eq!(a.ranks.len(), 4);
    for r in &a.ranks {
        assert_eq!(r.peak_in_flight, 5, "PP+1 in flight");
        assert_eq!(r.stages.len(), 2);
        assert!(r.param_bytes > 0 && r.peak_activation_bytes > 0);
    }
    assert!(!a.pair_slots.is_empty());
}

#[test]
fn mhc_makes_p2p_four_fold_and_adds_time() {
    let mut cfg = small_cfg();
    let hw = TrainHw::shipped(&cfg.system, &cfg).unwrap();
    let base = training::plan(&cfg, &hw, &ModelRegistry::builtin()).unwrap();
    cfg.mhc = Some(4);
    let m = training::plan(&cfg, &hw, &ModelRegistry::builtin()).unwrap();
    assert_eq!(m.p2p_bytes, 4 * base.p2p_bytes);
    let l = m.stages[1].layers[0];
    assert!(l.mhc_f > Ps::ZERO && l.mhc_b == Ps(2 * l.mhc_f.0));
    let t0 = training::run_step(&base).unwrap().step_time;
    let t1 = training::run_step(&m).unwrap().step_time;
    assert!(t1 > t0);
}

#[test]
fn bad_configs_name_the_rule() {
    let mut c = small_cfg();
    let hw = TrainHw::shipped("deepseek-h800-cluster", &c).unwrap();
    c.pp = 5;
    let e = training::plan(&c, &hw, &ModelRegistry::builtin())
        .unwrap_err()
        .to_string();
    assert!(e.contains("even"), "{e}");
    let mut c = small_cfg();
    c.micro_batches = 6;
    let e = training::plan(&c, &hw, &ModelRegistry::builtin())
        .unwrap_err()
        .to_string();
    assert!(e.contains("N >="), "{e}");
    let mut c = small_cfg();
    c.comm_sms = 200;
    let e = training::plan(&c, &hw, &ModelRegistry::builtin())
        .unwrap_err()
        .to_string();
    assert!(e.contains("comm_sms"), "{e}");
    let e = TrainHw::shipped("tpu", &c).unwrap_err().to_string();
    assert!(
        e.contains("gb200-nvl72"),
        "the message lists the systems: {e}"
    );
    c.reference.gpu = "tpu".into();
    assert!(TrainHw::shipped("deepseek-h800-cluster", &c).is_err());
}
