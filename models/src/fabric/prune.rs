//! Links that can never bind, found from the fabric's own routes, so that whole-cluster
//! flows leave them out of their paths (fewer resources per flow, smaller connected
//! components for the incremental solver) without changing any rate.
//!
//! Why leaving such a link out changes nothing: the max-min fair allocation is unique,
//! and a resource `R` is redundant when the flows crossing it can never load it past
//! its capacity because of other resources they cross:
//! - *one dominating resource*: every flow that crosses `R` also crosses `S`, and
//!   `cap(S) <= cap(R)` (a GPU's or NIC's PCIe port and switch uplinks on the way to the
//!   one NIC they serve: every flow over them crosses that NIC's port);
//! - *a sum of ports*: an NVLink domain's switch whose capacity is at least the sum of
//!   the NVLink ports that feed it and of those it feeds; a leaf's pooled uplinks (or
//!   downlinks) whose capacity is at least the sum of the NIC ports under the leaf (a
//!   non-blocking leaf).
//!
//! In either case the rates through `R` sum to at most `cap(R)`; if `R` were saturated
//! its dominating port(s) would be too, with the same flows at the same rates, so every
//! flow keeps a bottleneck elsewhere and the allocation, hence every finish time, stays
//! the same. Training's whole-cluster step (`memwall-train`'s `cluster/step.rs` tests)
//! runs a step with and without pruning and compares every op's times to the
//! picosecond; serving's whole-cluster EP (`memwall-serve`'s `ep_cluster`) runs its
//! all-to-all both ways too.

use std::collections::BTreeMap;

use super::{ClusterFabric, ResClass};
use memwall_sim::ResourceId;

/// The links flows may leave out of their paths ([`ClusterFabric::redundant`]); the
/// default leaves none out.
#[derive(Debug, Clone, Default)]
pub struct Redundant(Vec<bool>);

impl Redundant {
    /// Whether flows may leave `r` out of their paths.
    pub fn contains(&self, r: ResourceId) -> bool {
        self.0.get(r.0 as usize).copied().unwrap_or(false)
    }

    /// `path` without its redundant links: the same rates and finish times, fewer
    /// resources per flow for the solver.
    pub fn strip(&self, mut path: Vec<ResourceId>) -> Vec<ResourceId> {
        path.retain(|&r| !self.contains(r));
        path
    }
}

impl ClusterFabric {
    /// The links that can never bind, found from the fabric's own routes.
    pub fn redundant(&self) -> Redundant {
        Redundant(redundant(self))
    }
}

fn redundant(f: &ClusterFabric) -> Vec<bool> {
    let mut out = vec![false; f.net.resource_count()];
    let cap = |r: ResourceId| f.net.capacity(r);
    // PCIe resources between a GPU and its NIC, each way: the NIC ports behind them.
    let mut behind: BTreeMap<ResourceId, Vec<ResourceId>> = BTreeMap::new();
    // NVLink switches and leaf trunks: the ports into them and out of them.
    let mut feeds: BTreeMap<ResourceId, (Vec<ResourceId>, Vec<ResourceId>)> = BTreeMap::new();
    let n = f.gpu_count();
    // A GPU none of whose routes left its leaf: its NIC's share of a trunk is unknown.
    // ... or none of whose routes into it came from another leaf.
    let mut unfed = false;
    let mut landed = vec![false; n];
    for g in 0..n {
        let domain = f.gpus_per_node * f.nodes_per_domain;
        // The next domain (its PCIe ports), and far GPUs until one route leaves the leaf.
        let far = [n / 2, n / 4, 3 * n / 4].map(|d| (g + d.div_ceil(domain) * domain) % n);
        let mut crossed = false;
        for (p, r) in std::iter::once((g + domain) % n)
            .chain(far)
            .filter_map(|p| f.rdma_route(g, p).ok().map(|r| (p, r)))
        {
            let nics: Vec<usize> = (0..r.resources.len())
                .filter(|&i| f.class(r.resources[i]) == ResClass::Nic)
                .collect();
            if let (Some(&first), Some(&last)) = (nics.first(), nics.last()) {
                for &x in &r.resources[..first] {
                    behind.entry(x).or_default().push(r.resources[first]);
                }
                for &x in &r.resources[last + 1..] {
                    behind.entry(x).or_default().push(r.resources[last]);
                }
                // A leaf trunk between the two NICs: fed by every NIC whose traffic
                // crosses it (the far half of the cluster is under other leaves).
                // An uplink trunk is fed by the NICs under its leaf, a downlink trunk
                // feeds the NICs under its own.
                for &x in &r.resources[first + 1..last] {
                    let e = feeds.entry(x).or_default();
                    if f.class(x) == ResClass::LeafUp {
                        e.0.push(r.resources[first]);
                    } else {
                        e.1.push(r.resources[last]);
                    }
                    crossed = true;
                    landed[p] = true;
                }
            }
        }
        unfed |= !crossed;
        let mate = g - g % f.gpus_per_node + (g + 1) % f.gpus_per_node;
        if let Ok(r) = f.nvlink_route(g, mate) {
            if let [up, switch, down] = r.resources[..] {
                let e = feeds.entry(switch).or_default();
                e.0.push(up);
                e.1.push(down);
            }
        }
    }
    for (r, mut ports) in behind {
        ports.sort_unstable();
        ports.dedup();
        out[r.0 as usize] = matches!(ports[..], [s] if cap(s) <= cap(r));
    }
    unfed |= landed.iter().any(|&l| !l);
    let total = |mut ports: Vec<ResourceId>| {
        ports.sort_unstable();
        ports.dedup();
        ports.iter().map(|&p| cap(p) as u128).sum::<u128>()
    };
    for (r, (ins, outs)) in feeds {
        let trunk = matches!(f.class(r), ResClass::LeafUp | ResClass::LeafDown);
        out[r.0 as usize] = !(trunk && unfed) && cap(r) as u128 >= total(ins).max(total(outs));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fabric::tests::h800;

    /// Redundant resources per class: (class, how many, how many redundant).
    fn census(uplinks: Option<u32>) -> BTreeMap<String, (usize, usize)> {
        let f = h800(64, uplinks);
        let red = f.redundant();
        let mut m: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for r in (0..f.net.resource_count() as u32).map(ResourceId) {
            let e = m.entry(format!("{:?}", f.class(r))).or_default();
            e.0 += 1;
            e.1 += red.contains(r) as usize;
        }
        m
    }

    #[test]
    fn only_links_that_cannot_bind_are_left_out() {
        let m = census(None);
        // 64 nodes: PCIe ports behind their one NIC, NVLink switches fed by 8 ports of
        // their own capacity, non-blocking leaf trunks (8 planes x 2 leaves).
        assert_eq!(m["GpuPcie"], (1024, 1024));
        assert_eq!(m["NicPcie"], (1024, 1024));
        assert_eq!(m["NvlinkSwitch"], (64, 64));
        assert_eq!(m["LeafUp"], (16, 16));
        assert_eq!(m["LeafDown"], (16, 16));
        // What binds stays: NIC ports and NVLink ports.
        assert_eq!(m["Nic"].1, 0);
        assert_eq!(m["Nvlink"].1, 0);
        // 3:1 leaves: the trunks can bind.
        let m = census(Some(8));
        assert_eq!(m["LeafUp"].1, 0);
        assert_eq!(m["LeafDown"].1, 0);
        assert_eq!(m["NvlinkSwitch"], (64, 64));
    }
}
