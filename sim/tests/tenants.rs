//! Bytes per tenant and resource: with flows of several categories (tenants) sharing
//! resources, each category's bytes over each resource are its own flows' bytes, and the
//! categories together account for every byte the flow network carried.

mod common;

use memwall_sim::*;
use proptest::prelude::*;

/// One random flow: (tenant, start delay, path of resource indices, bytes).
type TenantFlow = (usize, u64, Vec<usize>, u64);

fn tenant_set() -> impl Strategy<Value = (Vec<u64>, Vec<TenantFlow>)> {
    prop::collection::vec(1_000u64..100_000_000_000, 1..6).prop_flat_map(|caps| {
        let n = caps.len();
        let flow = (
            0usize..3,
            0u64..5_000_000,
            prop::collection::vec(0..n, 1..4),
            0u64..50_000_000,
        );
        (Just(caps), prop::collection::vec(flow, 1..24))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn bytes_per_tenant_and_resource_add_up((caps, flows) in tenant_set()) {
        let mut net = FlowNet::new();
        let r = common::resources(&mut net, &caps);
        let mut ex = Executor::new(net);
        let tenants: Vec<CategoryId> = (0..3)
            .map(|t| ex.category(&format!("tenant{t}"), OpKind::Memory))
            .collect();
        let wait = ex.category("wait", OpKind::Marker);
        for (i, (t, delay, path, bytes)) in flows.iter().enumerate() {
            let s = ex.add_stream(format!("s{i}"), true, false);
            ex.add_op(OpSpec::new(s, wait, Work::Delay(Ps(*delay)))).unwrap();
            let path: Vec<_> = path.iter().map(|&k| r[k]).collect();
            ex.add_op(OpSpec::new(s, tenants[*t], Work::flow(Ps::ZERO, path, *bytes, None)))
                .unwrap();
        }
        ex.run().unwrap();
        for (k, &res) in r.iter().enumerate() {
            let mut sum = 0u128;
            for (t, &c) in tenants.iter().enumerate() {
                let want: u128 = flows
                    .iter()
                    .filter(|(ft, _, p, _)| *ft == t && p.contains(&k))
                    .map(|(_, _, _, b)| *b as u128)
                    .sum();
                prop_assert_eq!(ex.category_bytes(c, res), want, "tenant {} on r{}", t, k);
                sum += want;
            }
            prop_assert_eq!(ex.category_bytes(wait, res), 0);
            prop_assert_eq!(sum, ex.net().bytes_through(res), "r{} conserved", k);
        }
    }
}
