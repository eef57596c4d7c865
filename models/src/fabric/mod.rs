//! A whole cluster wired into kernel resources: every GPU, NIC, PCIe switch, NVLink
//! switch and leaf of a system's `[cluster]`, at full size, so that collectives can run
//! as per-GPU-pair flows.
//!
//! What a flow crosses (one [`FlowNet`] resource per link direction, at its achievable
//! rate from the profiles):
//! - inside an NVLink domain (an HGX node's NVSwitch, or an NVL72 rack's NVLink switch
//!   trays): the sender's NVLink port, the domain's switch, the receiver's port;
//! - between domains: the sender's PCIe port into its switch, the NIC's PCIe port, the
//!   NIC, then the leaf: a flow between NICs on one leaf stays in the leaf; otherwise it
//!   climbs the source leaf's uplinks to the spines and comes down the destination
//!   leaf's downlinks; then the far NIC, its PCIe port and the GPU's port. A GPU whose
//!   NIC hangs off another PCIe switch also crosses both switch uplinks (and the
//!   cross-socket link when the switches sit on different sockets).
//!
//! Switch chips are non-blocking crossbars; the links are the resources. The uplinks of
//! one leaf are one resource of `leaf_uplinks` ports: InfiniBand's adaptive routing
//! spreads a leaf's traffic over all of them (R16 §5.2), the fluid limit of which is one
//! pooled link. The NIC-to-leaf cable is the NIC's own port.
//!
//! Where NICs attach ([`FabricTopology`]): a fat-tree fills leaves NIC by NIC; a
//! multi-plane fat-tree (DeepSeek's MPFT, R16 §5.1) puts NIC `k` of every node on plane
//! `k % planes`, each plane its own two-layer fat-tree, so traffic between planes is
//! forwarded inside the destination node over NVLink (as DeepEP and NCCL's PXN do); a
//! rail-optimised fabric (R52) gives each rail of a scalable unit of
//! `radix - leaf_uplinks` nodes its own leaf, with the spines shared by every rail.

mod run;

pub use run::{ClassLoad, PhaseResult, Transfer};
mod prune;
pub use prune::Redundant;

use crate::schema::FabricTopology;
use crate::spec::{ClusterSpec, GpuInstance, HostPath, LinkSpec, NodeSpec, SystemSpec};
use memwall_sim::{FlowError, FlowNet, Ps, ResourceId};

/// Why a cluster cannot be wired, or a route not found.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FabricError {
    #[error("system `{0}` has no [cluster]: pick a cluster profile (e.g. deepseek-h800-cluster) or add a [cluster] table")]
    NoCluster(String),
    #[error("system `{system}`: {what}")]
    Unsupported { system: String, what: String },
    #[error("GPU {gpu} does not exist: the cluster has {count} GPUs")]
    NoGpu { gpu: usize, count: usize },
    #[error("GPUs {src} and {dst} are on different planes of the multi-plane fabric: route through the GPU on the destination node that shares the source's plane")]
    CrossPlane { src: usize, dst: usize },
    #[error("{0}")]
    Flow(#[from] FlowError),
}

/// What kind of link a resource is, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResClass {
    /// A GPU's PCIe port into its switch.
    GpuPcie,
    /// A NIC's PCIe port into its switch.
    NicPcie,
    /// A PCIe switch's uplink to its socket.
    SwitchUplink,
    /// The link between two sockets.
    CrossSocket,
    /// A NIC's network port.
    Nic,
    /// A GPU's NVLink port.
    Nvlink,
    /// The NVLink switch of one NVLink domain.
    NvlinkSwitch,
    /// A leaf's pooled uplinks to the spines, and its downlinks from them.
    LeafUp,
    LeafDown,
}

impl ResClass {
    pub fn label(self) -> &'static str {
        match self {
            ResClass::GpuPcie => "GPU PCIe port",
            ResClass::NicPcie => "NIC PCIe port",
            ResClass::SwitchUplink => "PCIe switch uplink",
            ResClass::CrossSocket => "cross-socket link",
            ResClass::Nic => "NIC",
            ResClass::Nvlink => "NVLink port",
            ResClass::NvlinkSwitch => "NVLink switch",
            ResClass::LeafUp => "leaf to spine",
            ResClass::LeafDown => "spine to leaf",
        }
    }
}

/// A path through the cluster: resources crossed, and the latency paid first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub resources: Vec<ResourceId>,
    pub latency: Ps,
}

#[derive(Debug, Clone, Copy)]
struct Duplex {
    /// Toward the device (GPU or NIC), and away from it.
    down: ResourceId,
    up: ResourceId,
}

#[derive(Debug, Clone)]
struct GpuWires {
    pcie: Duplex,
    /// Global index of the PCIe switch it sits on.
    switch: usize,
    /// Global index of the NIC it uses.
    nic: usize,
    nvlink: Option<Duplex>,
}

#[derive(Debug, Clone)]
struct NicWires {
    pcie: Duplex,
    switch: usize,
    /// Transmit (`up`) and receive (`down`).
    port: Duplex,
    plane: u32,
    /// Global leaf index.
    leaf: usize,
}

#[derive(Debug, Clone)]
struct SwitchWires {
    uplink: Duplex,
    node: usize,
    socket: usize,
}

/// The whole cluster in one flow network. Routes are resource ids, so they stay valid
/// when the network moves into an executor (`Executor::new(std::mem::take(&mut
/// fabric.net))`) for a workload that runs ops on every GPU.
#[derive(Debug, Clone)]
pub struct ClusterFabric {
    pub net: FlowNet,
    pub system: String,
    pub cluster: ClusterSpec,
    pub nodes: usize,
    pub gpus_per_node: usize,
    /// Nodes per NVLink domain (1 for HGX nodes, 18 for an NVL72 rack of 4-GPU trays).
    pub nodes_per_domain: usize,
    /// Leaves (all planes) and spines per plane.
    pub leaves: usize,
    pub spines_per_plane: usize,
    /// Uplinks over NIC-facing ports of a leaf (1.0 = non-blocking).
    pub oversubscription: f64,
    gpus: Vec<GpuWires>,
    nics: Vec<NicWires>,
    switches: Vec<SwitchWires>,
    /// Cross-socket links per node, `[node][from][to]`.
    xsocket: Vec<Vec<Vec<Option<ResourceId>>>>,
    nvswitch: Vec<ResourceId>,
    leaf: Vec<Duplex>,
    classes: Vec<ResClass>,
    nvlink_latency: Ps,
}

/// Leaf geometry: which leaf a NIC attaches to, and how many leaves there are.
struct Leaves {
    topology: FabricTopology,
    planes: u32,
    nics_per_node: usize,
    /// NIC-facing ports per leaf.
    down: usize,
    per_plane: usize,
}

impl Leaves {
    fn new(c: &ClusterSpec, nodes: usize, nics_per_node: usize) -> Leaves {
        let f = &c.fabric;
        let down = (f.switch_radix - f.leaf_uplinks).max(1) as usize;
        let planes = match f.topology {
            FabricTopology::MultiPlaneFatTree => f.planes.unwrap_or(1).max(1),
            _ => 1,
        };
        let per_plane_nics = match f.topology {
            FabricTopology::MultiPlaneFatTree => nodes * nics_per_node.div_ceil(planes as usize),
            _ => nodes * nics_per_node,
        };
        let per_plane = match f.topology {
            FabricTopology::RailOptimised => nodes.div_ceil(down) * nics_per_node,
            _ => per_plane_nics.div_ceil(down),
        };
        Leaves {
            topology: f.topology,
            planes,
            nics_per_node,
            down,
            per_plane,
        }
    }

    /// (plane, global leaf) of NIC `k` of node `n`.
    fn of(&self, n: usize, k: usize) -> (u32, usize) {
        match self.topology {
            FabricTopology::FatTree => (0, (n * self.nics_per_node + k) / self.down),
            FabricTopology::RailOptimised => (0, (n / self.down) * self.nics_per_node + k),
            FabricTopology::MultiPlaneFatTree => {
                let p = self.planes as usize;
                let plane = k % p;
                let pos = n * self.nics_per_node.div_ceil(p) + k / p;
                (plane as u32, plane * self.per_plane + pos / self.down)
            }
        }
    }
}

/// Capacity scaled by an efficiency in parts per million, at least 1 B/s.
fn derate(bw: u64, ppm: u32) -> u64 {
    ((bw as u128 * ppm as u128 / 1_000_000) as u64).max(1)
}

/// The GPU's PCIe port: its own PCIe host link, or (a C2C GPU also on a PCIe switch)
/// the switch's link generation.
fn gpu_pcie_link<'a>(spec: &'a NodeSpec, g: &'a GpuInstance) -> Option<&'a LinkSpec> {
    let sw = g.switch?;
    Some(match g.host_path {
        HostPath::PcieSwitch(_) => &g.host_link,
        HostPath::C2c(_) => &spec.switches[sw].uplink,
    })
}

struct Builder<'a> {
    sys: &'a SystemSpec,
    net: FlowNet,
    classes: Vec<ResClass>,
    efficiency_ppm: u32,
}

impl Builder<'_> {
    fn add(&mut self, name: String, bw: u64, class: ResClass) -> Result<ResourceId, FlowError> {
        let id = self.net.add_resource(name, bw)?;
        self.classes.push(class);
        Ok(id)
    }

    fn duplex(
        &mut self,
        name: &str,
        (down, up): (u64, u64),
        class: ResClass,
    ) -> Result<Duplex, FlowError> {
        Ok(Duplex {
            down: self.add(format!("{name}.down"), down, class)?,
            up: self.add(format!("{name}.up"), up, class)?,
        })
    }

    fn unsupported(&self, what: String) -> FabricError {
        FabricError::Unsupported {
            system: self.sys.name.clone(),
            what,
        }
    }

    /// One node's PCIe switches, cross-socket links, NICs and GPUs.
    fn node(
        &mut self,
        n: usize,
        leaves: &Leaves,
        out: &mut ClusterFabric,
    ) -> Result<(), FabricError> {
        let spec = &self.sys.node;
        let sw0 = out.switches.len();
        for sw in &spec.switches {
            let l = &sw.uplink;
            let rates = (l.bandwidth.achievable, l.reverse_achievable);
            let uplink = self.duplex(
                &format!("n{n}.{}.uplink", sw.name),
                rates,
                ResClass::SwitchUplink,
            )?;
            out.switches.push(SwitchWires {
                uplink,
                node: n,
                socket: sw.socket,
            });
        }
        let sockets = spec.sockets.len();
        let mut xs = vec![vec![None; sockets]; sockets];
        if let Some(x) = &spec.host.cross_socket {
            for (a, row) in xs.iter_mut().enumerate() {
                for (b, cell) in row.iter_mut().enumerate().filter(|(b, _)| *b != a) {
                    *cell = Some(self.add(
                        format!("n{n}.xsocket{a}to{b}"),
                        x.bandwidth,
                        ResClass::CrossSocket,
                    )?);
                }
            }
        }
        out.xsocket.push(xs);
        let nic_spec = spec
            .nic
            .as_ref()
            .ok_or_else(|| self.unsupported("the node has no NIC".into()))?;
        let nic0 = out.nics.len();
        for inst in &spec.nics {
            let (plane, leaf) = leaves.of(n, inst.index);
            let l = &nic_spec.host_link;
            let pcie = self.duplex(
                &format!("n{n}.nic{}.pcie", inst.index),
                (l.bandwidth.achievable, l.reverse_achievable),
                ResClass::NicPcie,
            )?;
            let bw = derate(nic_spec.bandwidth.achievable, self.efficiency_ppm);
            let port = self.duplex(&format!("n{n}.nic{}", inst.index), (bw, bw), ResClass::Nic)?;
            out.nics.push(NicWires {
                pcie,
                switch: sw0 + inst.switch,
                port,
                plane,
                leaf,
            });
        }
        for g in &spec.gpus {
            out.gpus.push(self.gpu(n, g, sw0, nic0)?);
        }
        Ok(())
    }

    fn gpu(
        &mut self,
        n: usize,
        g: &GpuInstance,
        sw0: usize,
        nic0: usize,
    ) -> Result<GpuWires, FabricError> {
        let spec = &self.sys.node;
        let (Some(link), Some(sw)) = (gpu_pcie_link(spec, g), g.switch) else {
            return Err(self.unsupported(format!(
                "GPU {} sits on no PCIe switch, so it has no path to a NIC",
                g.index
            )));
        };
        let Some(&nic) = g.nics.first() else {
            return Err(self.unsupported(format!("GPU {} uses no NIC", g.index)));
        };
        let name = format!("n{n}.gpu{}", g.index);
        let pcie = self.duplex(
            &format!("{name}.pcie"),
            (link.bandwidth.achievable, link.reverse_achievable),
            ResClass::GpuPcie,
        )?;
        let nvlink = match &spec.nvlink {
            Some(nv) => {
                let l = &nv.link;
                let rates = (
                    derate(l.reverse_achievable, self.efficiency_ppm),
                    derate(l.bandwidth.achievable, self.efficiency_ppm),
                );
                Some(self.duplex(&format!("{name}.nvlink"), rates, ResClass::Nvlink)?)
            }
            None => None,
        };
        Ok(GpuWires {
            pcie,
            switch: sw0 + sw,
            nic: nic0 + nic,
            nvlink,
        })
    }
}

impl ClusterFabric {
    /// Wires `sys`'s cluster, or its first `nodes` nodes. `efficiency_ppm` derates the
    /// GPU endpoints (NIC and NVLink ports) to what one GPU's collective kernels reach
    /// (1,000,000 = the links' achievable rates).
    pub fn build(
        sys: &SystemSpec,
        nodes: Option<u32>,
        efficiency_ppm: u32,
    ) -> Result<ClusterFabric, FabricError> {
        let cluster = sys
            .cluster
            .clone()
            .ok_or_else(|| FabricError::NoCluster(sys.name.clone()))?;
        let nodes = nodes.map_or(cluster.nodes, |n| n.min(cluster.nodes)).max(1) as usize;
        let spec = &sys.node;
        let mut b = Builder {
            sys,
            net: FlowNet::new(),
            classes: Vec::new(),
            efficiency_ppm: efficiency_ppm.clamp(1, 1_000_000),
        };
        check_fabric(&b, &cluster, nodes)?;
        let leaves = Leaves::new(&cluster, nodes, spec.nics.len());
        let gpn = spec.gpus.len();
        let domain = spec.nvlink.as_ref().map_or(1, |nv| nv.domain_size as usize);
        let nodes_per_domain = (domain / gpn.max(1)).max(1);
        let f = &cluster.fabric;
        let down = leaves.down;
        let mut out = ClusterFabric {
            net: FlowNet::new(),
            system: sys.name.clone(),
            nodes,
            gpus_per_node: gpn,
            nodes_per_domain,
            leaves: leaves.per_plane * leaves.planes as usize,
            spines_per_plane: (leaves.per_plane * f.leaf_uplinks as usize)
                .div_ceil(f.switch_radix as usize),
            oversubscription: down as f64 / f.leaf_uplinks as f64,
            cluster: cluster.clone(),
            gpus: Vec::new(),
            nics: Vec::new(),
            switches: Vec::new(),
            xsocket: Vec::new(),
            nvswitch: Vec::new(),
            leaf: Vec::new(),
            classes: Vec::new(),
            nvlink_latency: Ps(spec.nvlink.as_ref().map_or(0, |nv| nv.link.latency_ps)),
        };
        for n in 0..nodes {
            b.node(n, &leaves, &mut out)?;
        }
        if let Some(nv) = &spec.nvlink {
            let per_domain = (nodes_per_domain * gpn) as u64;
            let bw =
                derate(nv.link.bandwidth.achievable, b.efficiency_ppm).saturating_mul(per_domain);
            for d in 0..nodes.div_ceil(nodes_per_domain) {
                let id = b.add(
                    format!("domain{d}.nvlink-switch"),
                    bw,
                    ResClass::NvlinkSwitch,
                )?;
                out.nvswitch.push(id);
            }
        }
        let trunk = f
            .port_bandwidth
            .achievable
            .saturating_mul(f.leaf_uplinks as u64);
        for l in 0..out.leaves {
            let d = b.duplex(&format!("leaf{l}"), (trunk, trunk), ResClass::LeafUp)?;
            b.classes[d.down.0 as usize] = ResClass::LeafDown;
            out.leaf.push(d);
        }
        out.net = b.net;
        out.classes = b.classes;
        Ok(out)
    }

    pub fn gpu_count(&self) -> usize {
        self.gpus.len()
    }

    /// The class of resource `r`.
    pub fn class(&self, r: ResourceId) -> ResClass {
        self.classes[r.0 as usize]
    }

    /// The plane of the NIC GPU `g` uses.
    pub fn plane(&self, g: usize) -> u32 {
        self.nics[self.gpus[g].nic].plane
    }

    fn check(&self, g: usize) -> Result<(), FabricError> {
        if g >= self.gpus.len() {
            return Err(FabricError::NoGpu {
                gpu: g,
                count: self.gpus.len(),
            });
        }
        Ok(())
    }

    fn domain(&self, g: usize) -> usize {
        g / self.gpus_per_node / self.nodes_per_domain
    }

    /// Over NVLink, when both GPUs are in one NVLink domain.
    pub fn nvlink_route(&self, src: usize, dst: usize) -> Result<Route, FabricError> {
        self.check(src)?;
        self.check(dst)?;
        let (Some(a), Some(b)) = (self.gpus[src].nvlink, self.gpus[dst].nvlink) else {
            return Err(FabricError::Unsupported {
                system: self.system.clone(),
                what: "the node has no NVLink".into(),
            });
        };
        if self.domain(src) != self.domain(dst) {
            return Err(FabricError::Unsupported {
                system: self.system.clone(),
                what: format!("GPUs {src} and {dst} are in different NVLink domains"),
            });
        }
        Ok(Route {
            resources: vec![a.up, self.nvswitch[self.domain(src)], b.down],
            latency: self.nvlink_latency,
        })
    }

    /// A GPU's PCIe path to its NIC (`up`) or back (`!up`).
    fn gpu_nic(&self, g: usize, up: bool) -> Vec<ResourceId> {
        let gw = &self.gpus[g];
        let nw = &self.nics[gw.nic];
        let pick = |d: Duplex, toward_dev: bool| if toward_dev { d.down } else { d.up };
        let mut r = vec![pick(gw.pcie, !up)];
        if gw.switch != nw.switch {
            let (a, b) = (&self.switches[gw.switch], &self.switches[nw.switch]);
            let (from, to) = if up { (a, b) } else { (b, a) };
            r.push(from.uplink.up);
            if from.socket != to.socket {
                r.extend(self.xsocket[from.node][from.socket][to.socket]);
            }
            r.push(to.uplink.down);
        }
        r.push(pick(nw.pcie, up));
        if !up {
            r.reverse();
        }
        r
    }

    /// Over the scale-out fabric, NIC to NIC, both GPUs' NICs on one plane.
    pub fn rdma_route(&self, src: usize, dst: usize) -> Result<Route, FabricError> {
        self.check(src)?;
        self.check(dst)?;
        let (a, b) = (
            &self.nics[self.gpus[src].nic],
            &self.nics[self.gpus[dst].nic],
        );
        if a.plane != b.plane {
            return Err(FabricError::CrossPlane { src, dst });
        }
        let mut r = self.gpu_nic(src, true);
        r.push(a.port.up);
        let f = &self.cluster.fabric;
        let latency = if a.leaf == b.leaf {
            f.latency_same_leaf_ps
        } else {
            r.push(self.leaf[a.leaf].up);
            r.push(self.leaf[b.leaf].down);
            f.latency_cross_leaf_ps
        };
        r.push(b.port.down);
        r.extend(self.gpu_nic(dst, false));
        Ok(Route {
            resources: r,
            latency: Ps(latency),
        })
    }

    /// The GPU on `dst`'s node whose NIC shares `src`'s plane: where traffic from `src`
    /// lands before NVLink forwards it (DeepEP, NCCL PXN).
    pub fn relay(&self, src: usize, dst: usize) -> Result<usize, FabricError> {
        self.check(src)?;
        self.check(dst)?;
        let node = dst / self.gpus_per_node;
        let plane = self.plane(src);
        (node * self.gpus_per_node..(node + 1) * self.gpus_per_node)
            .find(|&g| self.plane(g) == plane)
            .ok_or(FabricError::CrossPlane { src, dst })
    }

    /// Any GPU to any GPU: NVLink inside a domain, else the fabric, forwarded over
    /// NVLink at the destination when the planes differ.
    pub fn route(&self, src: usize, dst: usize) -> Result<Route, FabricError> {
        self.check(src)?;
        self.check(dst)?;
        if self.domain(src) == self.domain(dst) && self.gpus[src].nvlink.is_some() {
            return self.nvlink_route(src, dst);
        }
        let relay = self.relay(src, dst)?;
        let mut r = self.rdma_route(src, relay)?;
        if relay != dst {
            let hop = self.nvlink_route(relay, dst)?;
            r.resources.extend(hop.resources);
            r.latency += hop.latency;
        }
        Ok(r)
    }
}

/// The wiring handles a two-layer fabric that fits the radix.
fn check_fabric(b: &Builder, c: &ClusterSpec, nodes: usize) -> Result<(), FabricError> {
    let f = &c.fabric;
    if f.tiers != 2 {
        return Err(b.unsupported(format!(
            "fabric `{}` has {} tiers; only two-layer (leaf-spine) fabrics are wired",
            f.name, f.tiers
        )));
    }
    let leaves = Leaves::new(c, nodes, b.sys.node.nics.len());
    let max = f.switch_radix as usize;
    if leaves.per_plane > max {
        return Err(b.unsupported(format!(
            "{} leaves per plane exceed what {}-port spines join in two layers ({max}): use fewer nodes or a larger radix",
            leaves.per_plane, f.switch_radix
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
