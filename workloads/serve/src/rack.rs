//! Several nodes of one NVLink domain served as one node: `nodes = N` in a scenario
//! joins N copies of the system's node (each with its own GPUs, sockets and their DRAM,
//! C2C links, PCIe switches, NICs and drives, as the system profile defines one node)
//! through the NVLink domain, e.g. the 18 compute trays of a GB200 NVL72 rack. GPU `g`
//! of the whole sits on node `g / gpus per node`.

use memwall_models::spec::{HostPath, NodeSpec};

use crate::error::ScenarioError;
use crate::scenario::Scenario;

/// The scenario's node: the system's, or `nodes` copies of it in one NVLink domain.
pub(crate) fn node_of(s: &Scenario, one: &NodeSpec) -> Result<NodeSpec, ScenarioError> {
    let n = s.nodes.unwrap_or(1);
    if n <= 1 {
        return Ok(one.clone());
    }
    let domain = one.nvlink.as_ref().map_or(0, |d| d.domain_size as usize);
    let gpus = n * one.gpus.len();
    if gpus > domain {
        return Err(ScenarioError::Field {
            origin: s.origin.clone(),
            line: s.line_of_key("nodes"),
            field: "nodes".into(),
            value: n.to_string(),
            message: format!(
                "{n} nodes of {} are {gpus} GPUs, but its NVLink domain holds {domain}",
                s.system
            ),
            hint: "nodes joins the nodes of one NVLink domain (an NVL72 rack: 18 trays); \
                   lower it, or leave it out for one node"
                .into(),
        });
    }
    Ok(expand(one, n))
}

/// `n` copies of `one`, every index of copy `k` shifted past the copies before it.
pub(crate) fn expand(one: &NodeSpec, n: usize) -> NodeSpec {
    let (g, so, sw, c, ni, d) = (
        one.gpus.len(),
        one.sockets.len(),
        one.switches.len(),
        one.c2c_groups.len(),
        one.nics.len(),
        one.drives.len(),
    );
    let mut out = NodeSpec {
        gpus: Vec::new(),
        sockets: Vec::new(),
        switches: Vec::new(),
        c2c_groups: Vec::new(),
        nics: Vec::new(),
        drives: Vec::new(),
        ..one.clone()
    };
    for k in 0..n {
        let sh = |v: &[usize], by: usize| v.iter().map(|x| x + k * by).collect::<Vec<_>>();
        out.gpus.extend(one.gpus.iter().map(|x| {
            let mut x = x.clone();
            x.index += k * g;
            x.socket += k * so;
            x.switch = x.switch.map(|s| s + k * sw);
            x.c2c_group = x.c2c_group.map(|s| s + k * c);
            x.nics = sh(&x.nics, ni);
            x.host_path = match x.host_path {
                HostPath::PcieSwitch(s) => HostPath::PcieSwitch(s + k * sw),
                HostPath::C2c(s) => HostPath::C2c(s + k * c),
            };
            x
        }));
        out.sockets.extend(one.sockets.iter().map(|x| {
            let mut x = *x;
            x.index += k * so;
            x
        }));
        out.switches.extend(one.switches.iter().map(|x| {
            let mut x = x.clone();
            x.index += k * sw;
            x.name = format!("node{k}.{}", x.name);
            x.socket += k * so;
            x.gpus = sh(&x.gpus, g);
            x.nics = sh(&x.nics, ni);
            x.drives = sh(&x.drives, d);
            x
        }));
        out.c2c_groups.extend(one.c2c_groups.iter().map(|x| {
            let mut x = x.clone();
            x.index += k * c;
            x.socket += k * so;
            x.gpus = sh(&x.gpus, g);
            x
        }));
        out.nics.extend(one.nics.iter().map(|x| {
            let mut x = *x;
            x.index += k * ni;
            x.switch += k * sw;
            x
        }));
        out.drives.extend(one.drives.iter().map(|x| {
            let mut x = *x;
            x.index += k * d;
            x.switch += k * sw;
            x
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use memwall_models::Registry;

    #[test]
    fn eighteen_trays_are_one_rack() {
        let sys = Registry::embedded().unwrap().system("gb200-nvl72").unwrap();
        let r = expand(&sys.node, 18);
        assert_eq!(
            (r.gpus.len(), r.sockets.len(), r.c2c_groups.len()),
            (72, 36, 72)
        );
        assert_eq!(
            (r.switches.len(), r.nics.len(), r.drives.len()),
            (72, 72, 72)
        );
        // GPU 45 is GPU 1 of tray 11: socket 22, its own C2C share, switch and NIC.
        let g = &r.gpus[45];
        assert_eq!(
            (g.index, g.socket, g.c2c_group, g.nics.clone()),
            (45, 22, Some(45), vec![45])
        );
        assert_eq!(r.c2c_groups[45].socket, 22);
        assert_eq!(r.switches[45].gpus, vec![45]);
        for (i, x) in r.gpus.iter().enumerate() {
            assert_eq!(x.index, i);
            assert_eq!(r.sockets[x.socket].index, x.socket);
        }
    }
}
