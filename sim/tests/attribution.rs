use memwall_sim::attribute;
use memwall_sim::*;
use proptest::prelude::*;

fn link(ex_net: &mut FlowNet, bw: u64) -> ResourceId {
    ex_net.add_resource("link", bw).unwrap()
}

#[test]
fn prefetch_hidden_vs_at_layer_exposed() {
    // Compute 10 us, then a layer that needs a 1 MB fetch over 1 GB/s (1 ms).
    for prefetch in [true, false] {
        let mut net = FlowNet::new();
        let l = link(&mut net, 1_000_000_000);
        let mut ex = Executor::new(net);
        let comp = ex.category("compute", OpKind::Compute);
        let fetch = ex.category("engram-fetch", OpKind::Memory);
        let gpu = ex.add_stream("gpu", true, true);
        let side = ex.add_stream("side", true, false);
        let w = Work::Transfer {
            latency: Ps::ZERO,
            flows: vec![FlowSpec {
                path: vec![l],
                bytes: 1_000_000,
                rate_cap: None,
            }],
        };
        let a = ex
            .add_op(OpSpec::new(gpu, comp, Work::Delay(Ps::from_ms(2))))
            .unwrap();
        let f = if prefetch {
            ex.add_op(OpSpec::new(side, fetch, w)).unwrap()
        } else {
            ex.add_op(OpSpec::new(side, fetch, w).after([a])).unwrap()
        };
        let b = ex
            .add_op(OpSpec::new(gpu, comp, Work::Delay(Ps::from_us(10))).after([f]))
            .unwrap();
        ex.run().unwrap();
        let tl = ex.timeline();
        let at = attribute(tl, (Ps::ZERO, tl.makespan()));
        let s = &at.streams[0];
        assert_eq!(s.busy + s.exposed_total() + s.bubble, s.makespan);
        let o = &at.ops[0];
        assert_eq!(o.latency, Ps::from_ms(1));
        if prefetch {
            assert_eq!(o.exposed, Ps::ZERO);
            assert_eq!(tl.get(b).unwrap().start, Ps::from_ms(2));
        } else {
            assert_eq!(o.exposed, Ps::from_ms(1));
            assert_eq!(s.exposed.values().copied().sum::<Ps>(), Ps::from_ms(1));
        }
    }
}

/// A random graph: ops on 3 compute streams and 2 side streams, random kinds, random
/// earlier dependencies, random sizes.
fn graph() -> impl Strategy<Value = Vec<(u8, u8, u64, Vec<usize>)>> {
    prop::collection::vec(
        (
            0u8..5,
            0u8..3,
            1u64..2_000_000,
            prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        ),
        1..40,
    )
    .prop_map(|v| {
        v.into_iter()
            .enumerate()
            .map(|(i, (s, k, size, deps))| {
                let d = if i == 0 {
                    vec![]
                } else {
                    deps.iter().map(|x| x.index(i)).collect()
                };
                (s, k, size, d)
            })
            .collect()
    })
}

/// Runs graph `g` (from [`graph`]) to completion; its timeline.
fn run_graph(g: &[(u8, u8, u64, Vec<usize>)]) -> Timeline {
    let mut net = FlowNet::new();
    let l0 = net.add_resource("a", 3_000_000_000).unwrap();
    let l1 = net.add_resource("b", 1_000_000_000).unwrap();
    let mut ex = Executor::new(net);
    let cats = [
        ex.category("compute", OpKind::Compute),
        ex.category("fetch", OpKind::Memory),
        ex.category("p2p", OpKind::Communication),
    ];
    let streams: Vec<_> = (0..5)
        .map(|i| ex.add_stream(format!("s{i}"), true, i < 3))
        .collect();
    let mut ids = Vec::new();
    for (s, k, size, deps) in g {
        let work = if *k == 0 {
            Work::Delay(Ps(*size * 1000))
        } else {
            let path = if *k == 1 { vec![l0] } else { vec![l0, l1] };
            Work::Transfer {
                latency: Ps(*size % 5000),
                flows: vec![FlowSpec {
                    path,
                    bytes: *size,
                    rate_cap: None,
                }],
            }
        };
        let deps: Vec<OpId> = deps.iter().map(|&d| ids[d]).collect();
        let o = OpSpec::new(streams[*s as usize], cats[*k as usize], work).after(deps);
        ids.push(ex.add_op(o).unwrap());
    }
    ex.run().unwrap();
    ex.into_timeline()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn busy_exposed_bubble_sum_to_makespan_and_hidden_plus_exposed_is_latency(g in graph()) {
        let tl = run_graph(&g);
        let span = tl.makespan();
        for w in [(Ps::ZERO, span), (Ps(span.0 / 3), Ps(span.0 / 3 * 2 + 1))] {
            let at = attribute(&tl, w);
            for s in &at.streams {
                prop_assert_eq!(s.busy + s.exposed_total() + s.bubble, s.makespan);
            }
            for o in &at.ops {
                prop_assert!(o.exposed <= o.latency);
                prop_assert_eq!(o.hidden() + o.exposed, o.latency);
            }
        }
    }

    /// An `Attributor` used before, on another timeline and window, gives what a fresh
    /// `attribute` gives (its buffers keep nothing from one call to the next).
    #[test]
    fn a_reused_attributor_matches_a_fresh_attribute(a in graph(), b in graph()) {
        let (ta, tb) = (run_graph(&a), run_graph(&b));
        let mut at = Attributor::default();
        for (tl, w) in [(&ta, (Ps::ZERO, ta.makespan())), (&tb, (Ps(tb.makespan().0 / 3), tb.makespan())), (&ta, (Ps::ZERO, Ps(ta.makespan().0 / 2)))] {
            let fresh = attribute(tl, w);
            let reused = at.attribute(tl, w);
            prop_assert_eq!(&reused.streams, &fresh.streams);
            prop_assert_eq!(&reused.ops, &fresh.ops);
            prop_assert_eq!(reused.window, fresh.window);
        }
    }
}
