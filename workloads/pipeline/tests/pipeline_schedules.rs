//! Pipeline schedules against the public reference's op order, and structural checks.

use memwall_pipeline::analytic::{list_schedule, OpCosts};
use memwall_pipeline::{
    BackwardMode, DependencyKind, OpKind, Schedule, ScheduleError, ScheduleKind,
};

fn fixture() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/pipeline/dualpipe_schedules.txt"
    );
    std::fs::read_to_string(path).expect("fixture present")
}

/// (kind, PP, N, per-rank lines) for every section of the fixture.
fn sections() -> Vec<(ScheduleKind, u32, u32, Vec<String>)> {
    let text = fixture();
    let mut out: Vec<(ScheduleKind, u32, u32, Vec<String>)> = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            let parts: Vec<&str> = h.split_whitespace().collect();
            let num = |s: &str| s.split('=').nth(1).unwrap().parse::<u32>().unwrap();
            let (kind, pp) = match parts[0] {
                "dualpipe" => (ScheduleKind::DualPipe, num(parts[1])),
                "dualpipev" => (ScheduleKind::DualPipeV, 2 * num(parts[1])),
                other => panic!("unknown section {other}"),
            };
            out.push((kind, pp, num(parts[2]), Vec::new()));
        } else if let Some(rest) = line.strip_prefix("rank") {
            let (_, ops) = rest.split_once(": ").unwrap();
            out.last_mut().unwrap().3.push(ops.trim().to_string());
        }
    }
    assert_eq!(out.len(), 4, "fixture sections");
    out
}

#[test]
fn matches_reference_op_for_op() {
    for (kind, pp, n, lines) in sections() {
        let s = Schedule::generate(kind, pp, n).unwrap();
        assert_eq!(s.ranks.len(), lines.len(), "{kind} PP={pp} N={n}");
        for (r, want) in lines.iter().enumerate() {
            assert_eq!(
                &s.reference_line(r as u32),
                want,
                "{kind} PP={pp} N={n} rank {r}"
            );
        }
    }
}

#[test]
fn dualpipev_equals_first_half_of_dualpipe() {
    for (d, n) in [(2u32, 4u32), (4, 10), (8, 16), (8, 40)] {
        let v = Schedule::generate(ScheduleKind::DualPipeV, 2 * d, n).unwrap();
        let full = Schedule::generate(ScheduleKind::DualPipe, 2 * d, 2 * n).unwrap();
        for r in 0..d {
            assert_eq!(
                v.reference_line(r),
                full.reference_line(r),
                "D={d} N={n} rank {r}"
            );
        }
    }
}

#[test]
fn dualpipe_peak_in_flight_is_pp_plus_one() {
    for pp in [2u32, 4, 6, 8, 16, 32] {
        for n in [2 * pp, 2 * pp + 2, 6 * pp, 120.max(2 * pp)] {
            let s = Schedule::generate(ScheduleKind::DualPipe, pp, n).unwrap();
            assert!(
                s.peak_in_flight_activations().iter().all(|&p| p == pp + 1),
                "PP={pp} N={n}: {:?}",
                s.peak_in_flight_activations()
            );
            let v = Schedule::generate(ScheduleKind::DualPipeV, pp, n).unwrap();
            assert!(
                v.peak_in_flight_activations().iter().all(|&p| p == pp + 1),
                "V PP={pp} N={n}: {:?}",
                v.peak_in_flight_activations()
            );
        }
    }
}

#[test]
fn one_f_one_b_peak_is_pp_minus_rank() {
    let s = Schedule::generate(ScheduleKind::OneFOneB, 8, 32).unwrap();
    let z = Schedule::generate(ScheduleKind::Zb1p, 8, 32).unwrap();
    for r in 0..8u32 {
        assert_eq!(s.peak_in_flight_activations()[r as usize], 8 - r);
        assert_eq!(z.peak_in_flight_activations()[r as usize], 8 - r);
    }
}

/// Every chunk: F once, B once, and its weight gradient exactly once (full B, F&B pair or
/// a deferred W after an input-only B); counts per rank match the reference's table.
#[test]
fn counts_and_dependency_shape() {
    for kind in [
        ScheduleKind::DualPipe,
        ScheduleKind::DualPipeV,
        ScheduleKind::OneFOneB,
        ScheduleKind::Zb1p,
    ] {
        let (pp, n) = (16u32, 120u32);
        let s = Schedule::generate(kind, pp, n).unwrap();
        let mut f = std::collections::HashMap::new();
        let mut b = std::collections::HashMap::new();
        let mut w = std::collections::HashMap::new();
        for (r, ops) in s.ranks.iter().enumerate() {
            for (i, op) in ops.iter().enumerate() {
                if let Some(c) = op.kind.forward_chunk() {
                    assert!(f.insert(c, (r, i)).is_none());
                    assert_eq!(s.rank_of(c.direction, c.stage), r as u32);
                }
                if let Some(c) = op.kind.backward_chunk() {
                    assert!(b.insert(c, (r, i)).is_none());
                }
                if let Some(c) = op.kind.weight_chunk() {
                    assert!(w.insert(c, (r, i)).is_none());
                }
                for d in &op.deps {
                    // producers always precede on the same rank
                    if d.producer.rank == r as u32 {
                        assert!(
                            (d.producer.index as usize) < i
                                || matches!(op.kind, OpKind::ForwardBackward { .. })
                        );
                    }
                    match d.kind {
                        DependencyKind::OwnForward | DependencyKind::OwnBackward => {
                            assert_eq!(d.producer.rank, r as u32)
                        }
                        _ => {}
                    }
                }
            }
        }
        let chunks = match kind {
            ScheduleKind::DualPipe => n * pp,
            ScheduleKind::DualPipeV => n * pp,
            _ => n * pp,
        };
        assert_eq!(f.len() as u32, chunks, "{kind}");
        assert_eq!(b.len() as u32, chunks, "{kind}");
        assert_eq!(w.len() as u32, chunks, "{kind}");
        // deadlock-free under the list scheduler
        let (f, b, w) = (1u64, 2u64, 1u64);
        let c = OpCosts {
            forward: f,
            backward_full: b,
            weight: w,
            forward_backward: 3,
            p2p_latency: 0,
        };
        list_schedule(&s, &c).unwrap();
    }
    // README table counts, R = 16, N = 120: rank 0 F 23, FB 97, B 23 (15 zero-bubble), W 15.
    let s = Schedule::generate(ScheduleKind::DualPipe, 16, 120).unwrap();
    let count = |r: usize, pred: &dyn Fn(&OpKind) -> bool| {
        s.ranks[r].iter().filter(|o| pred(&o.kind)).count()
    };
    let is_f = |k: &OpKind| matches!(k, OpKind::Forward(_));
    let is_fb = |k: &OpKind| matches!(k, OpKind::ForwardBackward { .. });
    let is_b = |k: &OpKind| matches!(k, OpKind::Backward { .. });
    let is_zb = |k: &OpKind| {
        matches!(
            k,
            OpKind::Backward {
                mode: BackwardMode::InputOnly,
                ..
            }
        )
    };
    let is_w = |k: &OpKind| matches!(k, OpKind::Weight(_));
    assert_eq!(
        [
            count(0, &is_f),
            count(0, &is_fb),
            count(0, &is_b),
            count(0, &is_zb),
            count(0, &is_w)
        ],
        [23, 97, 23, 15, 15]
    );
    assert_eq!(
        [
            count(7, &is_f),
            count(7, &is_fb),
            count(7, &is_b),
            count(7, &is_w)
        ],
        [17, 103, 17, 8]
    );
}

#[test]
fn p2p_dependencies_cross_neighbouring_ranks_only() {
    let s = Schedule::generate(ScheduleKind::DualPipe, 8, 20).unwrap();
    let mut p2p = 0;
    for (r, ops) in s.ranks.iter().enumerate() {
        for op in ops {
            for d in &op.deps {
                if d.is_p2p(r as u32) {
                    p2p += 1;
                    assert_eq!((d.producer.rank as i64 - r as i64).abs(), 1);
                    assert!(matches!(
                        d.kind,
                        DependencyKind::Activation | DependencyKind::Gradient
                    ));
                }
            }
        }
    }
    // each direction: N/2 micro-batches x (PP-1) boundaries x (activation + gradient)
    assert_eq!(p2p, 2 * 10 * 7 * 2);
    // DualPipeV: the turn-around on the last device is rank-local
    let v = Schedule::generate(ScheduleKind::DualPipeV, 8, 10).unwrap();
    let last = 3usize;
    let local_turn = v.ranks[last]
        .iter()
        .flat_map(|o| o.deps.iter())
        .filter(|d| d.kind == DependencyKind::Activation && d.producer.rank == last as u32)
        .count();
    assert_eq!(local_turn, 10);
}

#[test]
fn invalid_combinations_are_refused_with_the_rule() {
    let e = Schedule::generate(ScheduleKind::DualPipe, 7, 28).unwrap_err();
    assert!(matches!(e, ScheduleError::OddStages { .. }));
    assert!(e.to_string().contains("even"));
    let e = Schedule::generate(ScheduleKind::DualPipe, 8, 21).unwrap_err();
    assert!(matches!(e, ScheduleError::OddMicroBatches { .. }));
    let e = Schedule::generate(ScheduleKind::DualPipe, 8, 14).unwrap_err();
    assert!(e.to_string().contains("N >= 2"), "{e}");
    let e = Schedule::generate(ScheduleKind::DualPipeV, 8, 7).unwrap_err();
    assert!(matches!(
        e,
        ScheduleError::TooFewMicroBatches { min: 8, .. }
    ));
    assert!(Schedule::generate(ScheduleKind::DualPipeV, 8, 9).is_ok());
    assert!(Schedule::generate(ScheduleKind::DualPipe, 0, 4).is_err());
    assert!(Schedule::generate(ScheduleKind::OneFOneB, 0, 4).is_err());
    assert!(Schedule::generate(ScheduleKind::Zb1p, 4, 0).is_err());
    assert!(Schedule::generate(ScheduleKind::DualPipe, 4, u32::MAX).is_err());
}

/// README bubble formulas, checked with the list scheduler in the equal-cost case
/// F = B_input = W (B = 2F), where mhc_dualpipe.md §8 found them exact. Costs are in
/// half units so that F&B = 2.5 is integral. "Bubble" = makespan - busy, max over ranks.
#[test]
fn readme_bubble_formulas_equal_cost_case() {
    for pp in [4u32, 8, 16] {
        let n = 2 * pp + 8;
        for fb in [4u64, 5, 6] {
            let c = OpCosts {
                forward: 2,
                backward_full: 4,
                weight: 2,
                forward_backward: fb,
                p2p_latency: 0,
            };
            let want = (pp as u64 / 2 - 1) * (fb + 4 - 3 * 2);
            for kind in [ScheduleKind::DualPipe, ScheduleKind::DualPipeV] {
                let s = Schedule::generate(kind, pp, n).unwrap();
                let run = list_schedule(&s, &c).unwrap();
                let bubble = *run.idle_to_makespan().iter().max().unwrap();
                assert_eq!(bubble, want, "{kind} PP={pp} F&B={fb}/2");
            }
        }
        let (f, b, w) = (1u64, 2u64, 1u64);
        let c = OpCosts {
            forward: f,
            backward_full: b,
            weight: w,
            forward_backward: 3,
            p2p_latency: 0,
        };
        for (kind, want) in [
            (ScheduleKind::OneFOneB, (pp as u64 - 1) * (f + b)),
            (ScheduleKind::Zb1p, (pp as u64 - 1) * (f + b - 2 * w)),
        ] {
            let s = Schedule::generate(kind, pp, n).unwrap();
            let run = list_schedule(&s, &c).unwrap();
            assert!(
                run.idle_to_makespan().iter().all(|&b| b == want),
                "{kind} PP={pp}: {:?}",
                run.idle_to_makespan()
            );
        }
    }
}

/// ZB1P keeps at most PP chunks holding activations (F done, W not yet done) per rank.
#[test]
fn zb1p_activation_memory_bound() {
    let (pp, n) = (8u32, 24u32);
    let s = Schedule::generate(ScheduleKind::Zb1p, pp, n).unwrap();
    for ops in &s.ranks {
        let (mut live, mut peak) = (0i32, 0i32);
        for op in ops {
            if op.kind.forward_chunk().is_some() {
                live += 1;
            }
            peak = peak.max(live);
            if op.kind.weight_chunk().is_some() {
                live -= 1;
            }
        }
        assert_eq!(peak as u32, pp);
    }
}
