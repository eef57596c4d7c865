use super::*;
use crate::Registry;

/// The H800 cluster's first `nodes` nodes, with `uplinks` per leaf where given.
pub(super) fn h800(nodes: u32, uplinks: Option<u32>) -> ClusterFabric {
    let mut sys = Registry::embedded()
        .unwrap()
        .system("deepseek-h800-cluster")
        .unwrap();
    if let (Some(u), Some(c)) = (uplinks, sys.cluster.as_mut()) {
        c.fabric.leaf_uplinks = u;
    }
    ClusterFabric::build(&sys, Some(nodes), 1_000_000).unwrap()
}

fn classes(f: &ClusterFabric, r: &Route) -> Vec<ResClass> {
    let mut c: Vec<ResClass> = r.resources.iter().map(|&x| f.class(x)).collect();
    c.sort();
    c
}

#[test]
fn full_mpft_has_eight_planes_of_eight_leaves() {
    let f = h800(256, None);
    assert_eq!(f.gpu_count(), 2048);
    assert_eq!(f.leaves, 64);
    assert_eq!(f.spines_per_plane, 4);
    assert_eq!(f.oversubscription, 1.0);
    assert_eq!((f.plane(0), f.plane(7), f.plane(8 * 100 + 3)), (0, 7, 3));
}

#[test]
fn a_flow_between_nodes_crosses_pcie_nic_leaf_spine_and_back() {
    let f = h800(256, None);
    // Node 0 and node 40 are on different leaves of plane 0 (32 NICs per leaf).
    let r = f.rdma_route(0, 40 * 8).unwrap();
    use ResClass::*;
    assert_eq!(
        classes(&f, &r),
        vec![GpuPcie, GpuPcie, NicPcie, NicPcie, Nic, Nic, LeafUp, LeafDown]
    );
    assert_eq!(r.latency, Ps(3_700_000));
    // Same leaf: the leaf's trunks are not crossed, and the latency is the same-leaf one.
    let near = f.rdma_route(0, 8).unwrap();
    assert_eq!(near.resources.len(), 6);
    assert_eq!(near.latency, Ps(2_800_000));
    // Different planes: the fabric refuses, `route` forwards over NVLink at the far end.
    assert_eq!(
        f.rdma_route(0, 9),
        Err(FabricError::CrossPlane { src: 0, dst: 9 })
    );
    assert_eq!(f.relay(0, 9).unwrap(), 8);
    let via = f.route(0, 9).unwrap();
    assert_eq!(
        classes(&f, &via).iter().filter(|c| **c == Nvlink).count(),
        2
    );
    assert_eq!(via.latency, Ps(2_800_000 + 3_330_000));
    // Inside a node: NVLink ports and the NVSwitch only.
    assert_eq!(
        classes(&f, &f.route(0, 5).unwrap()),
        vec![Nvlink, Nvlink, NvlinkSwitch]
    );
}

#[test]
fn one_flow_takes_latency_plus_bytes_over_the_nic() {
    let mut f = h800(2, None);
    let route = f.rdma_route(0, 8).unwrap();
    let bytes = 1_000_000_000;
    let r = f.run_phase(&[Transfer { route, bytes }]).unwrap();
    // 40 GB/s achievable CX-7 is the narrowest link (PCIe Gen5 55 GB/s).
    let wire = (bytes as u128 * 1_000_000_000_000).div_ceil(40_000_000_000) as u64;
    assert_eq!(r.time, Ps(2_800_000 + wire));
    assert_eq!(r.bottleneck().unwrap().class, ResClass::Nic);
    assert_eq!((r.flows, r.events), (1, 2));
}

/// 32 nodes on leaf 0 each send to one node on leaf 1 (which starts at node `down`),
/// on plane 0.
fn leaf_to_leaf(f: &mut ClusterFabric, down: usize) -> PhaseResult {
    let t: Vec<Transfer> = (0..32)
        .map(|n| Transfer {
            route: f.rdma_route(n * 8, (down + n) * 8).unwrap(),
            bytes: 100_000_000,
        })
        .collect();
    f.run_phase(&t).unwrap()
}

#[test]
fn an_oversubscribed_leaf_is_the_bottleneck() {
    let full = leaf_to_leaf(&mut h800(64, None), 32);
    assert_eq!(full.bottleneck().unwrap().class, ResClass::Nic);
    // 8 of 64 ports up: 56 NICs per leaf share 8 uplinks.
    let mut thin = h800(96, Some(8));
    assert_eq!(thin.oversubscription, 7.0);
    let slow = leaf_to_leaf(&mut thin, 56);
    let b = slow.bottleneck().unwrap();
    assert_eq!(b.class, ResClass::LeafUp, "{:?}", slow.loads);
    assert!(b.utilisation > 0.95, "{}", b.utilisation);
    // 32 flows over 8 ports instead of one port each: 4x the wire time.
    let ratio = slow.time.0 as f64 / full.time.0 as f64;
    assert!((ratio - 4.0).abs() < 0.1, "{ratio}");
}

#[test]
fn nvl72_racks_talk_over_the_nvlink_switch() {
    let sys = Registry::embedded().unwrap().system("gb200-nvl72").unwrap();
    let f = ClusterFabric::build(&sys, None, 1_000_000).unwrap();
    assert_eq!((f.gpu_count(), f.nodes_per_domain), (72, 18));
    use ResClass::*;
    assert_eq!(
        classes(&f, &f.route(0, 71).unwrap()),
        vec![Nvlink, Nvlink, NvlinkSwitch]
    );
    // The scale-out path still exists, through the plain fat tree.
    let r = f.rdma_route(0, 71).unwrap();
    assert!(classes(&f, &r).contains(&Nic));
}

#[test]
fn leaves_per_topology() {
    let sys = Registry::embedded()
        .unwrap()
        .system("deepseek-h800-cluster")
        .unwrap();
    let mut c = sys.cluster.clone().unwrap();
    let mpft = Leaves::new(&c, 256, 8);
    assert_eq!(
        (mpft.of(0, 0), mpft.of(31, 0), mpft.of(32, 0)),
        ((0, 0), (0, 0), (0, 1))
    );
    assert_eq!(mpft.of(33, 5), (5, 5 * 8 + 1));
    c.fabric.topology = FabricTopology::FatTree;
    let ft = Leaves::new(&c, 256, 8);
    // 8 NICs per node fill a 32-port leaf every 4 nodes.
    assert_eq!(
        (ft.of(3, 7), ft.of(4, 0), ft.per_plane),
        ((0, 0), (0, 1), 64)
    );
    c.fabric.topology = FabricTopology::RailOptimised;
    let rail = Leaves::new(&c, 256, 8);
    // One leaf per rail per 32-node scalable unit.
    assert_eq!(
        (rail.of(0, 3), rail.of(31, 3), rail.of(32, 3)),
        ((0, 3), (0, 3), (0, 11))
    );
}

#[test]
fn a_cluster_too_big_for_two_layers_is_refused() {
    let mut sys = Registry::embedded()
        .unwrap()
        .system("deepseek-h800-cluster")
        .unwrap();
    if let Some(c) = sys.cluster.as_mut() {
        c.nodes = 4096;
    }
    let e = ClusterFabric::build(&sys, None, 1_000_000).unwrap_err();
    assert!(e.to_string().contains("exceed"), "{e}");
    let node = Registry::embedded().unwrap().system("dgx-h100").unwrap();
    assert!(matches!(
        ClusterFabric::build(&node, None, 1_000_000),
        Err(FabricError::NoCluster(_))
    ));
}

#[test]
fn fabric_profiles_are_checked() {
    let shipped = include_str!("../../../hw-profiles/networks/ib-ndr-mpft.toml");
    let all_up = shipped.replace(
        "leaf_uplinks = { value = 32,",
        "leaf_uplinks = { value = 64,",
    );
    let e = crate::validate_text("mine.toml", &all_up)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("leaf_uplinks") && e.contains("no leaf port for the NICs"),
        "{e}"
    );
    let no_planes: String = shipped
        .lines()
        .filter(|l| !l.starts_with("planes"))
        .collect::<Vec<_>>()
        .join("\n");
    let e = crate::validate_text("mine.toml", &no_planes)
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs `planes`"), "{e}");
    let bad = shipped.replace("multi-plane-fat-tree", "torus");
    assert!(crate::validate_text("mine.toml", &bad).is_err());
    assert!(crate::validate_text("mine.toml", shipped).is_ok());
}

#[test]
fn routes_drive_executor_ops_once_the_network_moves_into_one() {
    use memwall_sim::{Executor, FlowSpec, OpKind, OpSpec, Work};
    let mut f = h800(2, None);
    let route = f.route(0, 9).unwrap();
    let mut ex = Executor::new(std::mem::take(&mut f.net));
    let stream = ex.add_stream("gpu0.comm", true, false);
    let cat = ex.category("ep", OpKind::Communication);
    let bytes = 400_000_000;
    let flows = vec![FlowSpec {
        path: route.resources.clone(),
        bytes,
        rate_cap: None,
    }];
    let op = ex
        .add_op(OpSpec::new(
            stream,
            cat,
            Work::Transfer {
                latency: route.latency,
                flows,
            },
        ))
        .unwrap();
    ex.run().unwrap();
    let rec = ex.timeline().records.iter().find(|r| r.id == op).unwrap();
    // The NIC (40 GB/s) binds; NVLink forwarding runs alongside in the fluid model.
    let wire = (bytes as u128 * 1_000_000_000_000).div_ceil(40_000_000_000) as u64;
    assert_eq!(rec.end - rec.start, Ps(2_800_000 + 3_330_000 + wire));
}

#[test]
fn a_rail_optimised_fabric_joins_rails_through_the_spines() {
    let sys = Registry::embedded().unwrap().system("gb300-nvl72").unwrap();
    let f = ClusterFabric::build(&sys, None, 1_000_000).unwrap();
    assert_eq!(f.cluster.fabric.topology, FabricTopology::RailOptimised);
    // 18 trays of 4 GPUs: one scalable unit, one leaf per rail.
    assert_eq!(f.leaves, 4);
    use ResClass::*;
    // Same rail, other tray: one leaf. Other rail: up to the spines and down.
    let same = f.rdma_route(0, 4).unwrap();
    assert!(!classes(&f, &same).contains(&LeafUp));
    let other = f.rdma_route(0, 5).unwrap();
    assert!(classes(&f, &other).contains(&LeafUp) && classes(&f, &other).contains(&LeafDown));
    assert_eq!(other.latency.0, f.cluster.fabric.latency_cross_leaf_ps);
}
