//! `Work::Links` runs exactly as the `Transfer` of its one-hop flows.

mod common;

use memwall_sim::*;
use proptest::prelude::*;

/// Each record's (ready, start, end, blocker, bytes).
type Records = Vec<(Ps, Ps, Ps, Option<OpId>, u64)>;

/// Runs one op of `work` beside a competing two-hop transfer over resources of `caps`;
/// the records and each resource's category bytes.
fn run(caps: &[u64], work: Work, rival: u64) -> (Records, Vec<u128>) {
    let mut net = FlowNet::new();
    let r = common::resources(&mut net, caps);
    let mut ex = Executor::new(net);
    let s = ex.add_stream("a2a", false, false);
    let c = ex.category("ep", OpKind::Communication);
    let other = Work::flow(Ps::from_ns(5), vec![r[0], r[caps.len() - 1]], rival, None);
    let first = ex.add_op(OpSpec::new(s, c, other)).unwrap();
    let op = ex.add_op(OpSpec::new(s, c, work)).unwrap();
    ex.add_op(OpSpec::new(s, c, Work::Marker).after([first, op]))
        .unwrap();
    ex.run().unwrap();
    let recs = ex
        .timeline()
        .records
        .iter()
        .map(|x| (x.ready, x.start, x.end, x.blocker, x.bytes))
        .collect();
    (recs, r.iter().map(|&x| ex.category_bytes(c, x)).collect())
}

proptest! {
    #[test]
    fn links_run_as_their_one_hop_transfer(
        caps in proptest::collection::vec(1_000_000u64..100_000_000_000, 2..6),
        flows in proptest::collection::vec((0usize..6, 0u64..50_000_000), 0..8),
        rival in 1u64..50_000_000,
        latency in 0u64..10_000,
    ) {
        let flows: Vec<(ResourceId, u64)> =
            flows.into_iter().map(|(i, b)| (ResourceId((i % caps.len()) as u32), b)).collect();
        let latency = Ps::from_ns(latency);
        let links = Work::Links { latency, flows: flows.clone() };
        let transfer = Work::Transfer {
            latency,
            flows: flows
                .iter()
                .map(|&(r, bytes)| FlowSpec { path: vec![r], bytes, rate_cap: None })
                .collect(),
        };
        prop_assert_eq!(run(&caps, links, rival), run(&caps, transfer, rival));
    }
}
