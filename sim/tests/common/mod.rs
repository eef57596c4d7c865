//! Set-up shared by the kernel's integration tests.

use memwall_sim::{FlowNet, ResourceId};

/// Adds one resource per capacity of `caps` to `net`, named `r0`, `r1`, ...
pub fn resources(net: &mut FlowNet, caps: &[u64]) -> Vec<ResourceId> {
    caps.iter()
        .enumerate()
        .map(|(i, &c)| net.add_resource(format!("r{i}"), c).unwrap())
        .collect()
}
