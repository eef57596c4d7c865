//! The reference: progressive filling of every active flow from scratch (the solver the
//! kernel used before the incremental one), and the property test that the incremental
//! solver matches it, rate for rate and picosecond for picosecond.

use super::{usable, FlowNet};
use proptest::prelude::*;

/// Max-min fair rates of all active flows, filled from scratch. Deterministic and
/// independent of flow insertion order: ties between equally contended resources go to
/// the lower resource id, and every flow on a resource is treated alike.
pub(super) fn rates(net: &FlowNet) -> Vec<(u32, u128)> {
    let mut remaining = vec![0u128; net.resources.len()];
    let mut unfrozen = vec![0u32; net.resources.len()];
    let mut rate: Vec<Option<u128>> = vec![None; net.flows.len()];
    let active: Vec<u32> = (0..net.flows.len() as u32)
        .filter(|&i| net.flows[i as usize].live)
        .collect();
    let mut touched = Vec::new();
    for &id in &active {
        for &r in &net.flows[id as usize].path {
            if unfrozen[r as usize] == 0 {
                touched.push(r);
                remaining[r as usize] = usable(&net.resources[r as usize]);
            }
            unfrozen[r as usize] += 1;
        }
    }
    touched.sort_unstable();
    let mut freeze = |id: u32, v: u128, remaining: &mut [u128], unfrozen: &mut [u32]| {
        rate[id as usize] = Some(v);
        for &r in &net.flows[id as usize].path {
            remaining[r as usize] = remaining[r as usize].saturating_sub(v);
            unfrozen[r as usize] -= 1;
        }
    };
    let mut left = active.len();
    let mut frozen = vec![false; net.flows.len()];
    while left > 0 {
        // The most contended resource: least remaining/unfrozen, by cross-multiplication.
        let mut best: Option<(u128, u128, u32)> = None;
        for &r in &touched {
            let (rem, n) = (remaining[r as usize], unfrozen[r as usize] as u128);
            if n > 0 && best.is_none_or(|(br, bn, _)| rem.saturating_mul(bn) < br.saturating_mul(n))
            {
                best = Some((rem, n, r));
            }
        }
        let best_share = best.map_or(u128::MAX, |(rem, n, _)| rem / n);
        // Capped flows below that share are their own bottleneck.
        let capped: Vec<u32> = active
            .iter()
            .copied()
            .filter(|&id| !frozen[id as usize] && net.flows[id as usize].cap < best_share)
            .collect();
        if !capped.is_empty() {
            for id in capped {
                frozen[id as usize] = true;
                freeze(
                    id,
                    net.flows[id as usize].cap,
                    &mut remaining,
                    &mut unfrozen,
                );
                left -= 1;
            }
            continue;
        }
        let Some((_, _, r)) = best else { break };
        for &id in &net.resources[r as usize].flows {
            if !frozen[id as usize] {
                frozen[id as usize] = true;
                freeze(id, best_share, &mut remaining, &mut unfrozen);
                left -= 1;
            }
        }
    }
    active
        .iter()
        .map(|&id| (id, rate[id as usize].unwrap_or(0)))
        .collect()
}

/// One random flow: arrival time, path (resource indices), bytes, rate cap.
type RandomFlow = (u64, Vec<u32>, u64, Option<u64>);
/// One random hold: resource, amount, from, until.
type RandomHold = (u32, u64, u64, u64);

fn scenario() -> impl Strategy<Value = (Vec<u64>, Vec<RandomFlow>, Vec<RandomHold>)> {
    // Few distinct capacities and arrival times, so that ties and simultaneous starts
    // are common; some random ones for the rest.
    let cap = prop_oneof![
        Just(50_000_000_000u64),
        Just(25_000_000_000),
        Just(100_000_000_000),
        1_000u64..200_000_000_000
    ];
    prop::collection::vec(cap, 1..10).prop_flat_map(|caps| {
        let n = caps.len() as u32;
        let flow = (
            prop_oneof![Just(0u64), Just(1_000_000), 0u64..20_000_000],
            prop::collection::vec(0..n, 1..4),
            prop_oneof![Just(1_000_000u64), 0u64..5_000_000],
            prop::option::of(prop_oneof![
                Just(12_500_000_000u64),
                1_000u64..100_000_000_000
            ]),
        );
        let hold = (
            0..n,
            0u64..80_000_000_000,
            0u64..20_000_000,
            0u64..40_000_000,
        );
        (
            Just(caps),
            prop::collection::vec(flow, 1..48),
            prop::collection::vec(hold, 0..4),
        )
    })
}

/// Live flows' (owner, rate), sorted by owner.
fn owner_rates(net: &FlowNet) -> Vec<(u64, u128)> {
    let mut v: Vec<_> = net
        .flows
        .iter()
        .filter(|f| f.live)
        .map(|f| (f.owner, f.rate))
        .collect();
    v.sort_unstable();
    v
}

/// Run a scenario, starting simultaneous flows in `order`; after every settle, hand the
/// live rates to `check`. Returns each flow's (owner, finish time), sorted.
fn run(
    net: &mut FlowNet,
    flows: &[RandomFlow],
    holds: &[RandomHold],
    order: &[usize],
    check: &mut dyn FnMut(&FlowNet, Option<u64>),
) -> Vec<(u64, u64)> {
    use crate::flow::ResourceId;
    use crate::time::Ps;
    let mut times: Vec<u64> = flows.iter().map(|f| f.0).collect();
    times.extend(holds.iter().flat_map(|h| [h.2, h.2 + h.3]));
    times.sort_unstable();
    times.dedup();
    let mut next = 0;
    let (mut done, mut out) = (Vec::new(), Vec::new());
    loop {
        let wake = net.settle().map(|p| p.0);
        check(net, wake);
        let t = match (wake, times.get(next)) {
            (Some(w), Some(&a)) => w.min(a),
            (Some(w), None) => w,
            (None, Some(&a)) => a,
            (None, None) => return done,
        };
        net.advance(Ps(t), &mut out);
        done.extend(out.drain(..).map(|f| (f.owner, t)));
        if times.get(next) == Some(&t) {
            next += 1;
            for &(r, amount, from, len) in holds {
                if from + len == t {
                    net.release(ResourceId(r), amount).unwrap();
                }
                if from == t {
                    net.hold(ResourceId(r), amount).unwrap();
                }
            }
            for &i in order.iter().filter(|&&i| flows[i].0 == t) {
                let (_, path, bytes, cap) = &flows[i];
                let path: Vec<_> = path.iter().map(|&r| ResourceId(r)).collect();
                net.start(&path, *bytes, *cap, i as u64).unwrap();
            }
        }
        done.sort_unstable();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    /// The incremental solver gives every flow the rate a full recompute gives it, after
    /// every change, and so the same finish times to the picosecond, whatever the order
    /// in which simultaneous flows start.
    #[test]
    fn incremental_matches_full_recompute((caps, flows, holds) in scenario(), seed in any::<u64>()) {
        let build = |full: bool| {
            let mut net = FlowNet::new();
            for (i, &c) in caps.iter().enumerate() {
                net.add_resource(format!("r{i}"), c).unwrap();
            }
            net.full_recompute = full;
            net
        };
        let fwd: Vec<usize> = (0..flows.len()).collect();
        let mut perm = fwd.clone();
        let mut x = seed | 1;
        for i in (1..perm.len()).rev() {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            perm.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut full_states = Vec::new();
        let want = run(&mut build(true), &flows, &holds, &fwd, &mut |n, w| {
            full_states.push((owner_rates(n), w));
        });
        let mut inc_states = Vec::new();
        let got = run(&mut build(false), &flows, &holds, &perm, &mut |n, w| {
            // Same net, from scratch: the incremental rates are the full ones.
            let mut full: Vec<(u64, u128)> = rates(n)
                .into_iter()
                .map(|(id, r)| (n.flows[id as usize].owner, r))
                .collect();
            full.sort_unstable();
            assert_eq!(owner_rates(n), full, "rates differ from a full recompute");
            inc_states.push((owner_rates(n), w));
        });
        prop_assert_eq!(inc_states, full_states);
        prop_assert_eq!(got, want);
    }
}
