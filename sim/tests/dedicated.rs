//! `Work::Dedicated` runs exactly as `Work::Links` (its flows through the flow network)
//! wherever nothing else crosses its resources while it runs; a flow or hold that does is
//! an error, not a silent difference.

mod common;

use memwall_sim::*;
use proptest::prelude::*;

/// Each record's (ready, start, end, blocker, bytes).
type Records = Vec<(Ps, Ps, Ps, Option<OpId>, u64)>;

/// What a run gives: the records, each resource's category bytes and bytes through.
type Outcome = (Records, Vec<u128>, Vec<u128>);

/// A phase: latency (ns), entries (resource index, bytes), then a compute gap (ns).
type Phase = (u64, Vec<(usize, u64)>, u64);

/// A graph of phases over resources of `caps`: each phase is `as_work(latency, flows)`
/// after the one before and a compute op of `gap` ns between them; beside them, a
/// two-hop rival transfer of `rival.1` bytes over resources `rival.0` (first and last),
/// started after 5 ns.
fn run(
    caps: &[u64],
    phases: &[Phase],
    rival: (bool, u64),
    as_work: fn(Ps, Vec<(ResourceId, u64)>) -> Work,
) -> Result<Outcome, SimError> {
    let mut net = FlowNet::new();
    let r = common::resources(&mut net, caps);
    // The rival's own pair of resources, or the phases' first and last.
    let spare = [
        net.add_resource("s0", 7_000_000_000).unwrap(),
        net.add_resource("s1", 3_000_000_000).unwrap(),
    ];
    let mut ex = Executor::new(net);
    let s = ex.add_stream("a2a", false, false);
    let g = ex.add_stream("gpu", true, true);
    let c = ex.category("ep", OpKind::Communication);
    let k = ex.category("compute", OpKind::Compute);
    let path = match rival.0 {
        true => vec![r[0], r[caps.len() - 1]],
        false => spare.to_vec(),
    };
    let other = Work::flow(Ps::from_ns(5), path, rival.1, None);
    let first = ex.add_op(OpSpec::new(s, c, other))?;
    let mut last = None;
    for (latency, flows, gap) in phases {
        let flows = flows.iter().map(|&(i, b)| (r[i % caps.len()], b)).collect();
        let op = ex.add_op(OpSpec::new(s, c, as_work(Ps::from_ns(*latency), flows)).after(last))?;
        let gap = OpSpec::new(g, k, Work::Delay(Ps::from_ns(*gap)));
        last = Some(ex.add_op(gap.after([op]))?);
    }
    ex.add_op(OpSpec::new(s, c, Work::Marker).after([first]).after(last))?;
    ex.run()?;
    let recs = ex
        .timeline()
        .records
        .iter()
        .map(|x| (x.ready, x.start, x.end, x.blocker, x.bytes))
        .collect();
    let all: Vec<ResourceId> = r.iter().chain(&spare).copied().collect();
    let cat = all.iter().map(|&x| ex.category_bytes(c, x)).collect();
    Ok((
        recs,
        cat,
        all.iter().map(|&x| ex.bytes_through(x)).collect(),
    ))
}

fn links(latency: Ps, flows: Vec<(ResourceId, u64)>) -> Work {
    Work::Links { latency, flows }
}

fn dedicated(latency: Ps, flows: Vec<(ResourceId, u64)>) -> Work {
    Work::Dedicated { latency, flows }
}

fn phases() -> impl Strategy<Value = Vec<Phase>> {
    let flows = proptest::collection::vec((0usize..6, 0u64..50_000_000), 0..8);
    proptest::collection::vec((6u64..10_000, flows, 0u64..20_000), 1..5)
}

proptest! {
    /// Phases alone on their resources (some naming one twice, which runs as `Links`),
    /// beside a rival on resources of its own: the same records, category bytes and
    /// bytes through every resource.
    #[test]
    fn dedicated_runs_as_links_where_alone(
        caps in proptest::collection::vec(1_000_000u64..100_000_000_000, 2..6),
        phases in phases(),
        rival in 1u64..50_000_000,
    ) {
        let want = run(&caps, &phases, (false, rival), links).unwrap();
        prop_assert_eq!(run(&caps, &phases, (false, rival), dedicated).unwrap(), want);
    }

    /// A rival over the phases' resources that starts first (5 ns, before any phase's
    /// flows): a phase that finds it still running runs through the network; one that
    /// starts after it ended runs alone. Either way, the same as `Links`.
    #[test]
    fn dedicated_meeting_a_running_flow_runs_as_links(
        caps in proptest::collection::vec(1_000_000u64..100_000_000_000, 2..6),
        phases in phases(),
        rival in 1u64..50_000_000,
    ) {
        let want = run(&caps, &phases, (true, rival), links).unwrap();
        prop_assert_eq!(run(&caps, &phases, (true, rival), dedicated).unwrap(), want);
    }
}

/// A flow that starts over a resource while a dedicated entry runs over it would share
/// it: an error naming the resource and both times, where `Links` shares it.
#[test]
fn a_flow_over_a_dedicated_resource_is_an_error() {
    // 1 GB over 1 GB/s from 1 ns: the rival starts at 5 ns, mid-way.
    let phases = [(1, vec![(0, 1_000_000_000)], 0)];
    assert!(run(&[1_000_000_000, 1_000_000_000], &phases, (true, 10), links).is_ok());
    let e = run(
        &[1_000_000_000, 1_000_000_000],
        &phases,
        (true, 10),
        dedicated,
    )
    .unwrap_err();
    assert_eq!(
        e,
        SimError::Contended {
            resource: ResourceId(0),
            at: Ps::from_ns(5),
            until: Ps(1_000 + 1_000_000_000_000),
        }
    );
    assert!(e.to_string().contains("resource 0 at 5000 ps"), "{e}");
}

/// A hold on a dedicated resource while its entry runs is an error too.
#[test]
fn a_hold_on_a_dedicated_resource_is_an_error() {
    let mut net = FlowNet::new();
    let r = net.add_resource("port", 1_000_000_000).unwrap();
    let mut ex = Executor::new(net);
    let s = ex.add_stream("a2a", false, false);
    let c = ex.category("ep", OpKind::Communication);
    let w = Work::Dedicated {
        latency: Ps::ZERO,
        flows: vec![(r, 1_000_000)],
    };
    ex.add_op(OpSpec::new(s, c, w)).unwrap();
    let held = OpSpec::new(s, c, Work::Delay(Ps::from_ns(1))).holding(r, 10);
    ex.add_op(held).unwrap();
    let e = ex.run().unwrap_err();
    assert!(
        matches!(e, SimError::Contended { resource, .. } if resource == r),
        "{e}"
    );
}
