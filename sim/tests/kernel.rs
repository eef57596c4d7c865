//! Closed forms and invariants of the kernel, exact to the picosecond.

use memwall_sim::*;
use proptest::prelude::*;

fn link_net(caps: &[u64]) -> (FlowNet, Vec<ResourceId>) {
    let mut n = FlowNet::new();
    let ids = caps
        .iter()
        .enumerate()
        .map(|(i, &c)| n.add_resource(format!("r{i}"), c).unwrap())
        .collect();
    (n, ids)
}

fn xfer(path: Vec<ResourceId>, bytes: u64, latency: Ps) -> Work {
    Work::Transfer {
        latency,
        flows: vec![FlowSpec {
            path,
            bytes,
            rate_cap: None,
        }],
    }
}

#[test]
fn one_transfer_costs_latency_plus_bytes_over_bandwidth() {
    let (net, r) = link_net(&[55_400_000_000]);
    let mut ex = Executor::new(net);
    let s = ex.add_stream("copy", true, false);
    let c = ex.category("h2d", OpKind::Memory);
    let op = ex
        .add_op(OpSpec::new(
            s,
            c,
            xfer(vec![r[0]], 1 << 30, Ps::from_ns(2_800)),
        ))
        .unwrap();
    ex.run().unwrap();
    let rec = ex.timeline().get(op).unwrap();
    let want = Ps::from_ns(2_800) + Ps::transfer_time(1 << 30, 55_400_000_000).unwrap();
    assert_eq!(rec.end, want);
    assert_eq!(rec.start, Ps::ZERO);
}

#[test]
fn n_equal_flows_on_one_link_take_n_times_as_long() {
    for n in [1u64, 2, 3, 5, 8, 12, 16] {
        let (net, r) = link_net(&[25_000_000_000]);
        let mut ex = Executor::new(net);
        let c = ex.category("x", OpKind::Memory);
        let ops: Vec<_> = (0..n)
            .map(|i| {
                let s = ex.add_stream(format!("s{i}"), true, false);
                ex.add_op(OpSpec::new(s, c, xfer(vec![r[0]], 1_000_003, Ps::ZERO)))
                    .unwrap()
            })
            .collect();
        ex.run().unwrap();
        let single = (1_000_003u128 * PS_PER_SEC as u128).div_ceil(25_000_000_000);
        let want =
            Ps((1_000_003u128 * n as u128 * PS_PER_SEC as u128).div_ceil(25_000_000_000) as u64);
        for op in ops {
            assert_eq!(ex.timeline().get(op).unwrap().end, want, "n={n}");
        }
        assert!(want.0 as u128 >= single * n as u128 - n as u128);
    }
}

#[test]
fn two_hop_flow_gets_its_bottleneck_share() {
    // a: 100 GB/s shared by two flows; b: 30 GB/s on the second flow's path.
    let (net, r) = link_net(&[100_000_000_000, 30_000_000_000]);
    let mut ex = Executor::new(net);
    let c = ex.category("x", OpKind::Memory);
    let s0 = ex.add_stream("s0", true, false);
    let s1 = ex.add_stream("s1", true, false);
    let two_hop = ex
        .add_op(OpSpec::new(
            s0,
            c,
            xfer(vec![r[0], r[1]], 3_000_000, Ps::ZERO),
        ))
        .unwrap();
    let one_hop = ex
        .add_op(OpSpec::new(s1, c, xfer(vec![r[0]], 7_000_000, Ps::ZERO)))
        .unwrap();
    ex.run().unwrap();
    // Two-hop gets 30 GB/s (its bottleneck), one-hop gets the remaining 70 GB/s: both end at 100 us.
    assert_eq!(ex.timeline().get(two_hop).unwrap().end, Ps::from_us(100));
    assert_eq!(ex.timeline().get(one_hop).unwrap().end, Ps::from_us(100));
}

#[test]
fn streams_run_in_order_and_record_blockers() {
    let (net, r) = link_net(&[1_000_000_000]);
    let mut ex = Executor::new(net);
    let compute = ex.category("compute", OpKind::Compute);
    let fetch = ex.category("fetch", OpKind::Memory);
    let gpu = ex.add_stream("gpu", true, true);
    let side = ex.add_stream("side", true, false);
    let a = ex
        .add_op(OpSpec::new(gpu, compute, Work::Delay(Ps::from_us(5))))
        .unwrap();
    let f = ex
        .add_op(OpSpec::new(
            side,
            fetch,
            xfer(vec![r[0]], 10_000, Ps::from_us(1)),
        ))
        .unwrap();
    let b = ex
        .add_op(OpSpec::new(gpu, compute, Work::Delay(Ps::from_us(2))).after([f]))
        .unwrap();
    ex.run().unwrap();
    let tl = ex.timeline();
    // fetch: 1 us + 10 us; b waits for it past a's end at 5 us.
    assert_eq!(tl.get(f).unwrap().end, Ps::from_us(11));
    let rb = tl.get(b).unwrap();
    assert_eq!(
        (rb.ready, rb.start, rb.end),
        (Ps::from_us(11), Ps::from_us(11), Ps::from_us(13))
    );
    assert_eq!(rb.blocker, Some(f));
    assert_eq!(tl.get(a).unwrap().blocker, None);
}

#[test]
fn stream_predecessor_blocks_when_data_is_early() {
    let net = FlowNet::new();
    let mut ex = Executor::new(net);
    let c = ex.category("c", OpKind::Compute);
    let gpu = ex.add_stream("gpu", true, true);
    let side = ex.add_stream("side", true, false);
    let f = ex
        .add_op(OpSpec::new(side, c, Work::Delay(Ps(10))))
        .unwrap();
    let a = ex.add_op(OpSpec::new(gpu, c, Work::Delay(Ps(50)))).unwrap();
    let b = ex
        .add_op(OpSpec::new(gpu, c, Work::Delay(Ps(5))).after([f]))
        .unwrap();
    ex.run().unwrap();
    let rb = ex.timeline().get(b).unwrap();
    assert_eq!((rb.ready, rb.start, rb.blocker), (Ps(10), Ps(50), Some(a)));
}

#[test]
fn storage_queue_depth_and_iops() {
    let mut ex = Executor::new(FlowNet::new());
    let spec = QueueSpec {
        name: "nvme0".into(),
        depth: 4,
        ops_per_sec: 1_000_000,
        latency: Ps::from_us(100),
        bandwidth: 10_000_000_000,
    };
    let d = ex.add_server(spec).unwrap();
    let c = ex.category("read", OpKind::Storage);
    let s = ex.add_stream("io", true, false);
    let op = ex
        .add_op(OpSpec::new(
            s,
            c,
            Work::Storage {
                server: d,
                requests: 8,
                bytes_per_request: 4096,
            },
        ))
        .unwrap();
    ex.run().unwrap();
    // Depth 4, 100 us each (+409.6 ns transfer): two waves; the second wave is issued as
    // slots free, spaced by the 1 us IOPS period.
    let x = Ps::transfer_time(4096, 10_000_000_000).unwrap();
    let first_done = Ps::from_us(100) + x; // request 0
    let last_issue = first_done + Ps::from_us(3); // requests 4..7 each wait a slot, issued 1 us apart
    assert_eq!(
        ex.timeline().get(op).unwrap().end,
        last_issue + Ps::from_us(100) + x
    );
    assert_eq!(ex.server_stats(d), Some((8, 8 * 4096)));
}

#[test]
fn errors_not_panics() {
    let (net, _) = link_net(&[1]);
    let mut ex = Executor::new(net);
    let c = ex.category("c", OpKind::Compute);
    let s = ex.add_stream("s", true, true);
    assert!(ex
        .add_op(OpSpec::new(StreamId(9), c, Work::Marker))
        .is_err());
    assert!(ex
        .add_op(OpSpec::new(s, CategoryId(9), Work::Marker))
        .is_err());
    assert!(ex
        .add_op(OpSpec::new(s, c, Work::Marker).after([OpId(5)]))
        .is_err());
    assert!(ex
        .add_op(OpSpec::new(s, c, xfer(vec![ResourceId(3)], 1, Ps::ZERO)))
        .is_err());
    assert!(ex
        .add_op(OpSpec::new(s, c, Work::Delay(Ps(u64::MAX))))
        .is_ok());
    let r = ex.add_op(OpSpec::new(s, c, Work::Delay(Ps(u64::MAX))));
    assert!(r.is_ok());
    assert!(ex.run().is_err(), "time overflow is reported");
}

#[test]
fn forget_keeps_memory_flat() {
    let mut ex = Executor::new(FlowNet::new());
    let c = ex.category("c", OpKind::Compute);
    let s = ex.add_stream("s", true, true);
    let mut last = None;
    for i in 0..1000u32 {
        let op = ex
            .add_op(OpSpec::new(s, c, Work::Delay(Ps(3))).after(last))
            .unwrap();
        ex.run_until_done(op).unwrap();
        if i % 10 == 9 {
            ex.forget_before(op).unwrap();
        }
        last = Some(op);
    }
    assert!(ex.timeline().records.len() <= 10);
    assert_eq!(ex.now(), Ps(3000));
}

/// One random flow: (start delay, path of resource indices, bytes, rate cap).
type RandomFlow = (u64, Vec<usize>, u64, Option<u64>);

/// A random flow set: resource capacities and flows on them.
fn flow_set() -> impl Strategy<Value = (Vec<u64>, Vec<RandomFlow>)> {
    prop::collection::vec(1_000u64..100_000_000_000, 1..6).prop_flat_map(|caps| {
        let n = caps.len();
        let flow = (
            0u64..5_000_000,
            prop::collection::vec(0..n, 1..4),
            0u64..50_000_000,
            prop::option::of(1_000u64..50_000_000_000),
        );
        (Just(caps), prop::collection::vec(flow, 1..24))
    })
}

/// Run a flow set, adding ops in the given order; returns end times by flow index and
/// checks capacity after every step.
fn run_set(
    caps: &[u64],
    flows: &[(u64, Vec<usize>, u64, Option<u64>)],
    order: &[usize],
) -> Vec<Ps> {
    let (net, r) = link_net(caps);
    let mut ex = Executor::new(net);
    let c = ex.category("x", OpKind::Memory);
    let wait = ex.category("wait", OpKind::Marker);
    let mut ids = vec![OpId(0); flows.len()];
    for &i in order {
        let (delay, path, bytes, cap) = &flows[i];
        let s = ex.add_stream(format!("s{i}"), true, false);
        ex.add_op(OpSpec::new(s, wait, Work::Delay(Ps(*delay))))
            .unwrap();
        let path: Vec<_> = path.iter().map(|&k| r[k]).collect();
        let w = Work::Transfer {
            latency: Ps::ZERO,
            flows: vec![FlowSpec {
                path,
                bytes: *bytes,
                rate_cap: *cap,
            }],
        };
        ids[i] = ex.add_op(OpSpec::new(s, c, w)).unwrap();
    }
    while ex.step().unwrap() {
        for &res in &r {
            let (used, cap) = ex.net().load(res);
            assert!(used <= cap, "resource over capacity: {used} > {cap}");
        }
    }
    // Bytes conserved: each resource carried exactly the bytes of the flows crossing it.
    for (k, &res) in r.iter().enumerate() {
        let want: u128 = flows
            .iter()
            .filter(|(_, p, b, _)| *b > 0 && p.contains(&k))
            .map(|(_, _, b, _)| *b as u128)
            .sum();
        assert_eq!(ex.net().bytes_through(res), want, "bytes through r{k}");
    }
    ids.iter()
        .map(|&id| ex.timeline().get(id).unwrap().end)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn flows_conserve_bytes_respect_capacity_and_ignore_insertion_order((caps, flows) in flow_set(), seed in any::<u64>()) {
        let fwd: Vec<usize> = (0..flows.len()).collect();
        let mut perm = fwd.clone();
        // Deterministic shuffle from the seed.
        let mut x = seed | 1;
        for i in (1..perm.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            perm.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let a = run_set(&caps, &flows, &fwd);
        let b = run_set(&caps, &flows, &perm);
        prop_assert_eq!(a.clone(), b);
        // No flow finishes faster than it could alone on its slowest resource.
        for (i, (delay, path, bytes, cap)) in flows.iter().enumerate() {
            let mut bw = path.iter().map(|&k| caps[k]).min().unwrap();
            if let Some(c) = cap { bw = bw.min(*c); }
            let alone = Ps::transfer_time(*bytes, bw).unwrap();
            prop_assert!(a[i] >= Ps(*delay) + alone, "flow {} too fast", i);
        }
    }
}

#[test]
fn a_shared_transfer_runs_exactly_as_its_own_flows() {
    // Two ops on two streams: one with its own flow list, one sharing the same list;
    // against the same graph with own lists only.
    let flows = |r: &[ResourceId]| {
        vec![
            FlowSpec {
                path: vec![r[0], r[1]],
                bytes: 3_000_017,
                rate_cap: None,
            },
            FlowSpec {
                path: vec![r[1]],
                bytes: 1_000_003,
                rate_cap: Some(7_000_000_000),
            },
        ]
    };
    let run = |shared: bool| {
        let (net, r) = link_net(&[10_000_000_000, 25_000_000_000]);
        let mut ex = Executor::new(net);
        let c = ex.category("a2a", OpKind::Communication);
        let list: std::sync::Arc<[FlowSpec]> = flows(&r).into();
        let ops: Vec<_> = (0..2)
            .map(|i| {
                let s = ex.add_stream(format!("s{i}"), true, false);
                let latency = Ps(1_000 * i);
                let work = if shared {
                    Work::SharedTransfer {
                        latency,
                        flows: list.clone(),
                    }
                } else {
                    Work::Transfer {
                        latency,
                        flows: flows(&r),
                    }
                };
                ex.add_op(OpSpec::new(s, c, work)).unwrap()
            })
            .collect();
        ex.run().unwrap();
        ops.iter()
            .map(|&o| {
                let rec = ex.timeline().get(o).unwrap();
                (rec.start, rec.end, rec.latency, rec.bytes)
            })
            .collect::<Vec<_>>()
    };
    let own = run(false);
    assert_eq!(run(true), own);
    assert_eq!(own[0].3, 4_000_020);
    assert!(own[1].1 > own[0].1);
}

#[test]
fn a_shared_transfer_over_an_unknown_resource_is_refused() {
    let (net, r) = link_net(&[1_000]);
    let mut ex = Executor::new(net);
    let s = ex.add_stream("s", true, false);
    let c = ex.category("x", OpKind::Memory);
    let bad = FlowSpec {
        path: vec![r[0], ResourceId(7)],
        bytes: 1,
        rate_cap: None,
    };
    let work = Work::SharedTransfer {
        latency: Ps::ZERO,
        flows: vec![bad].into(),
    };
    assert!(ex.add_op(OpSpec::new(s, c, work)).is_err());
}
