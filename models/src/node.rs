//! Wiring a node into kernel resources.
//!
//! A resolved [`NodeSpec`] becomes bandwidth resources in a [`FlowNet`] (each link and
//! memory at its *achievable* rate, one resource per direction) and queue servers for
//! its drives, and paths through them: host DRAM to a GPU crosses the socket's DRAM, the
//! cross-socket link when the memory is remote, the PCIe switch uplink or the C2C link,
//! and the GPU's own host link. All GPUs of a node therefore contend for DRAM per
//! socket, for their switch uplinks (shared with the NICs and drives on the switch) and
//! for the drives.

use crate::spec::{GpuInstance, HostPath, NodeSpec};
use memwall_sim::{
    Executor, FlowError, FlowNet, FlowSpec, Ps, QueueSpec, ResourceId, ServerId, SimError, Work,
    PS_PER_SEC,
};

/// One GPU's resources.
#[derive(Clone, Debug)]
pub struct GpuPorts {
    /// Compute, in "picoseconds of the whole GPU per second" (capacity 1e12): a kernel
    /// that takes `d` ps alone is a flow of `d` units; a communication kernel that
    /// occupies k of S SMs holds k/S of it. See [`GpuPorts::sm_hold`].
    pub compute: ResourceId,
    /// HBM at its achievable bandwidth (reads and writes share it).
    pub hbm: ResourceId,
    /// The GPU's own host link (PCIe port or its C2C share), host-to-device direction.
    pub link_h2d: ResourceId,
    /// The same link, device-to-host direction.
    pub link_d2h: ResourceId,
    /// NVLink port, transmit and receive, where the GPU has one.
    pub nvlink_tx: Option<ResourceId>,
    pub nvlink_rx: Option<ResourceId>,
}

/// A wired node: its spec and the resources built from it.
#[derive(Clone, Debug)]
pub struct NodeModel {
    pub spec: NodeSpec,
    pub gpus: Vec<GpuPorts>,
    /// Host DRAM per socket.
    pub dram: Vec<ResourceId>,
    /// Cross-socket link, `xsocket[from][to]` (None on the diagonal).
    pub xsocket: Vec<Vec<Option<ResourceId>>>,
    /// PCIe switch uplinks, toward the devices (down) and toward the host (up).
    pub uplink_down: Vec<ResourceId>,
    pub uplink_up: Vec<ResourceId>,
    /// NVLink-C2C group links, toward the GPUs (down) and toward the host (up).
    pub c2c_down: Vec<ResourceId>,
    pub c2c_up: Vec<ResourceId>,
    /// NIC transmit and receive, per NIC.
    pub nic_tx: Vec<ResourceId>,
    pub nic_rx: Vec<ResourceId>,
    /// Each drive's own link (drive to switch) and its queue server.
    pub drive_link: Vec<ResourceId>,
    pub drive_server: Vec<ServerId>,
}

/// A path through the node: resources crossed and the fixed latency to pay first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Path {
    pub resources: Vec<ResourceId>,
    pub latency: Ps,
}

impl Path {
    /// A transfer of `bytes` along this path, as one flow.
    pub fn flow(&self, bytes: u64) -> FlowSpec {
        FlowSpec {
            path: self.resources.clone(),
            bytes,
            rate_cap: None,
        }
    }

    /// The work of moving `bytes` along this path: its latency, then one flow.
    pub fn transfer(&self, bytes: u64) -> Work {
        Work::Transfer {
            latency: self.latency,
            flows: vec![self.flow(bytes)],
        }
    }
}

/// A wiring error: the spec names something that is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WiringError(pub String);

impl std::fmt::Display for WiringError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl std::error::Error for WiringError {}

impl From<FlowError> for WiringError {
    fn from(e: FlowError) -> Self {
        WiringError(e.to_string())
    }
}
impl From<SimError> for WiringError {
    fn from(e: SimError) -> Self {
        WiringError(e.to_string())
    }
}

/// One link as two resources, one per direction.
fn duplex(
    net: &mut FlowNet,
    name: &str,
    dirs: (&str, &str),
    forward: u64,
    reverse: u64,
) -> Result<(ResourceId, ResourceId), FlowError> {
    Ok((
        net.add_resource(format!("{name}.{}", dirs.0), forward)?,
        net.add_resource(format!("{name}.{}", dirs.1), reverse)?,
    ))
}

/// Two lists of resources, one per direction, built together.
type Duplexes = (Vec<ResourceId>, Vec<ResourceId>);

/// Each `(name, forward, reverse)` as a [`duplex`] pair, in order.
fn duplexes(
    net: &mut FlowNet,
    dirs: (&str, &str),
    links: impl IntoIterator<Item = (String, u64, u64)>,
) -> Result<Duplexes, FlowError> {
    let mut out: Duplexes = (Vec::new(), Vec::new());
    for (name, forward, reverse) in links {
        let (a, b) = duplex(net, &name, dirs, forward, reverse)?;
        out.0.push(a);
        out.1.push(b);
    }
    Ok(out)
}

/// One GPU's compute, HBM, host link and NVLink port.
fn gpu_ports(
    net: &mut FlowNet,
    spec: &NodeSpec,
    g: &GpuInstance,
    prefix: &str,
) -> Result<GpuPorts, FlowError> {
    let name = format!("{prefix}gpu{}", g.index);
    let compute = net.add_resource(format!("{name}.compute"), PS_PER_SEC)?;
    let hbm = net.add_resource(format!("{name}.hbm"), spec.gpu.hbm_bandwidth.achievable)?;
    let link_h2d = net.add_resource(
        format!("{name}.{}.h2d", g.host_link.name),
        g.host_link.bandwidth.achievable,
    )?;
    let link_d2h = net.add_resource(
        format!("{name}.{}.d2h", g.host_link.name),
        g.host_link.reverse_achievable,
    )?;
    let (nvlink_tx, nvlink_rx) = match &spec.nvlink {
        Some(nv) => (
            Some(net.add_resource(format!("{name}.nvlink.tx"), nv.link.bandwidth.achievable)?),
            Some(net.add_resource(format!("{name}.nvlink.rx"), nv.link.reverse_achievable)?),
        ),
        None => (None, None),
    };
    Ok(GpuPorts {
        compute,
        hbm,
        link_h2d,
        link_d2h,
        nvlink_tx,
        nvlink_rx,
    })
}

/// DRAM per socket, and the cross-socket links between every ordered pair.
type HostResources = (Vec<ResourceId>, Vec<Vec<Option<ResourceId>>>);

fn host_resources(
    net: &mut FlowNet,
    spec: &NodeSpec,
    prefix: &str,
) -> Result<HostResources, FlowError> {
    let mut dram = Vec::new();
    for s in &spec.sockets {
        dram.push(net.add_resource(
            format!("{prefix}socket{}.dram", s.index),
            s.dram_bandwidth.achievable,
        )?);
    }
    let n = spec.sockets.len();
    let mut xsocket = vec![vec![None; n]; n];
    if let Some(x) = &spec.host.cross_socket {
        for (a, row) in xsocket.iter_mut().enumerate() {
            for (b, cell) in row.iter_mut().enumerate() {
                if a != b {
                    *cell =
                        Some(net.add_resource(format!("{prefix}xsocket{a}to{b}"), x.bandwidth)?);
                }
            }
        }
    }
    Ok((dram, xsocket))
}

/// Each drive's link to its switch and its queue server.
fn drives(
    ex: &mut Executor,
    spec: &NodeSpec,
    prefix: &str,
) -> Result<(Vec<ResourceId>, Vec<ServerId>), WiringError> {
    let mut drive_link = Vec::new();
    let mut drive_server = Vec::new();
    let Some(d) = &spec.drive else {
        return Ok((drive_link, drive_server));
    };
    for i in &spec.drives {
        drive_link.push(ex.net_mut().add_resource(
            format!("{prefix}nvme{}.link", i.index),
            d.host_link.bandwidth.achievable,
        )?);
        drive_server.push(ex.add_server(QueueSpec {
            name: format!("{prefix}nvme{}", i.index),
            depth: d.max_queue_depth,
            ops_per_sec: d.random_read_iops,
            latency: Ps(d.read_latency_qd1_ps),
            bandwidth: d.seq_read,
        })?);
    }
    Ok((drive_link, drive_server))
}

impl NodeModel {
    /// Build the node's resources in `ex`, naming each `{prefix}{part}`.
    pub fn build(
        spec: &NodeSpec,
        ex: &mut Executor,
        prefix: &str,
    ) -> Result<NodeModel, WiringError> {
        let net = ex.net_mut();
        let gpus = spec
            .gpus
            .iter()
            .map(|g| gpu_ports(net, spec, g, prefix))
            .collect::<Result<Vec<_>, _>>()?;
        let (dram, xsocket) = host_resources(net, spec, prefix)?;
        let uplinks = spec.switches.iter().map(|sw| {
            let up = &sw.uplink;
            let name = format!("{prefix}{}.uplink", sw.name);
            (name, up.bandwidth.achievable, up.reverse_achievable)
        });
        let (uplink_down, uplink_up) = duplexes(net, ("down", "up"), uplinks)?;
        let c2c = spec.c2c_groups.iter().map(|c| {
            let name = format!("{prefix}c2c{}", c.index);
            (name, c.link.bandwidth.achievable, c.link.reverse_achievable)
        });
        let (c2c_down, c2c_up) = duplexes(net, ("down", "up"), c2c)?;
        let nics = spec.nic.iter().flat_map(|nic| {
            let bw = nic.bandwidth.achievable;
            spec.nics
                .iter()
                .map(move |i| (format!("{prefix}nic{}", i.index), bw, bw))
        });
        let (nic_tx, nic_rx) = duplexes(net, ("tx", "rx"), nics)?;
        let (drive_link, drive_server) = drives(ex, spec, prefix)?;
        Ok(NodeModel {
            spec: spec.clone(),
            gpus,
            dram,
            xsocket,
            uplink_down,
            uplink_up,
            c2c_down,
            c2c_up,
            nic_tx,
            nic_rx,
            drive_link,
            drive_server,
        })
    }

    fn gpu_check(&self, gpu: usize) -> Result<(), WiringError> {
        if gpu >= self.gpus.len() {
            return Err(WiringError(format!(
                "GPU {gpu} does not exist: the node has {} GPUs",
                self.gpus.len()
            )));
        }
        Ok(())
    }

    fn socket_check(&self, socket: usize) -> Result<(), WiringError> {
        if socket >= self.dram.len() {
            return Err(WiringError(format!(
                "socket {socket} does not exist: the node has {} sockets",
                self.dram.len()
            )));
        }
        Ok(())
    }

    /// The resources between host DRAM on `socket` and `gpu`, host-to-device, without
    /// latency (the caller chooses copy-engine or SM-issued latency).
    pub fn host_to_gpu_resources(
        &self,
        socket: usize,
        gpu: usize,
    ) -> Result<Vec<ResourceId>, WiringError> {
        self.gpu_check(gpu)?;
        self.socket_check(socket)?;
        let g = &self.spec.gpus[gpu];
        let mut r = vec![self.dram[socket]];
        if socket != g.socket {
            r.extend(self.xsocket[socket][g.socket]);
        }
        match g.host_path {
            HostPath::PcieSwitch(s) => r.push(self.uplink_down[s]),
            HostPath::C2c(c) => r.push(self.c2c_down[c]),
        }
        r.push(self.gpus[gpu].link_h2d);
        Ok(r)
    }

    /// The reverse: `gpu` to host DRAM on `socket`.
    pub fn gpu_to_host_resources(
        &self,
        gpu: usize,
        socket: usize,
    ) -> Result<Vec<ResourceId>, WiringError> {
        self.gpu_check(gpu)?;
        self.socket_check(socket)?;
        let g = &self.spec.gpus[gpu];
        let mut r = vec![self.gpus[gpu].link_d2h];
        match g.host_path {
            HostPath::PcieSwitch(s) => r.push(self.uplink_up[s]),
            HostPath::C2c(c) => r.push(self.c2c_up[c]),
        }
        if socket != g.socket {
            r.extend(self.xsocket[g.socket][socket]);
        }
        r.push(self.dram[socket]);
        Ok(r)
    }

    /// Extra latency of crossing sockets, when `socket` is not the GPU's own.
    pub fn cross_socket_latency(&self, socket: usize, gpu: usize) -> Ps {
        match (&self.spec.host.cross_socket, self.spec.gpus.get(gpu)) {
            (Some(x), Some(g)) if g.socket != socket => Ps(x.extra_latency_ps),
            _ => Ps::ZERO,
        }
    }

    /// A copy-engine (DMA) copy from pinned host memory to the GPU: DMA set-up, then
    /// the bytes over the path.
    pub fn h2d_copy(&self, socket: usize, gpu: usize) -> Result<Path, WiringError> {
        let resources = self.host_to_gpu_resources(socket, gpu)?;
        let link = &self.spec.gpus[gpu].host_link;
        let setup = link
            .pcie
            .map_or(link.latency_ps, |p| p.dma_setup_ps.max(link.latency_ps));
        Ok(Path {
            resources,
            latency: Ps(setup) + self.cross_socket_latency(socket, gpu),
        })
    }

    /// A copy-engine copy from the GPU to pinned host memory.
    pub fn d2h_copy(&self, gpu: usize, socket: usize) -> Result<Path, WiringError> {
        let resources = self.gpu_to_host_resources(gpu, socket)?;
        let link = &self.spec.gpus[gpu].host_link;
        let setup = link
            .pcie
            .map_or(link.latency_ps, |p| p.dma_setup_ps.max(link.latency_ps));
        Ok(Path {
            resources,
            latency: Ps(setup) + self.cross_socket_latency(socket, gpu),
        })
    }

    /// GPU to GPU over NVLink (through the NVSwitch: the sender's transmit port and the
    /// receiver's receive port).
    pub fn nvlink(&self, from: usize, to: usize) -> Result<Path, WiringError> {
        self.gpu_check(from)?;
        self.gpu_check(to)?;
        let (Some(tx), Some(rx), Some(nv)) = (
            self.gpus[from].nvlink_tx,
            self.gpus[to].nvlink_rx,
            &self.spec.nvlink,
        ) else {
            return Err(WiringError(
                "this node has no NVLink: pick a system with an NVLink domain".into(),
            ));
        };
        Ok(Path {
            resources: vec![tx, rx],
            latency: Ps(nv.link.latency_ps),
        })
    }

    /// GPU to GPU as a peer copy: over NVLink where both GPUs have a port, else PCIe
    /// peer to peer: the sender's link up, its switch's uplink (unless both sit on one
    /// switch), the cross-socket link when the switches hang off different sockets, the
    /// receiver's switch downlink and link. The latency is the peer path's (`[collective]
    /// peer` of the host link) where the profile gives one, else the link's; the rate
    /// cap is the peer path's bandwidth (what a PCIe root complex forwards peer to peer),
    /// when given.
    pub fn gpu_to_gpu(&self, from: usize, to: usize) -> Result<(Path, Option<u64>), WiringError> {
        if self.spec.nvlink.is_some() {
            return Ok((self.nvlink(from, to)?, None));
        }
        self.gpu_check(from)?;
        self.gpu_check(to)?;
        let (a, b) = (&self.spec.gpus[from], &self.spec.gpus[to]);
        let (HostPath::PcieSwitch(sa), HostPath::PcieSwitch(sb)) = (a.host_path, b.host_path)
        else {
            return Err(WiringError(
                "GPU-to-GPU without NVLink needs both GPUs on PCIe switches".into(),
            ));
        };
        let mut r = vec![self.gpus[from].link_d2h];
        if sa != sb {
            r.push(self.uplink_up[sa]);
            let (xa, xb) = (self.spec.switches[sa].socket, self.spec.switches[sb].socket);
            if xa != xb {
                r.extend(self.xsocket[xa][xb]);
            }
            r.push(self.uplink_down[sb]);
        }
        r.push(self.gpus[to].link_h2d);
        let peer = a.host_link.collective.as_ref().and_then(|c| c.peer);
        let latency = peer.map_or(a.host_link.latency_ps, |p| p.latency_ps);
        let path = Path {
            resources: r,
            latency: Ps(latency),
        };
        Ok((path, peer.map(|p| p.bandwidth)))
    }

    /// HBM of one GPU, for a device-local copy (reads and writes both cross it).
    pub fn hbm(&self, gpu: usize) -> Result<ResourceId, WiringError> {
        self.gpu_check(gpu)?;
        Ok(self.gpus[gpu].hbm)
    }

    /// A drive's data path to host DRAM on `socket` (after the drive served the request).
    pub fn drive_to_host(&self, drive: usize, socket: usize) -> Result<Path, WiringError> {
        let inst = self.spec.drives.get(drive).ok_or_else(|| {
            WiringError(format!(
                "drive {drive} does not exist: the node has {} drives",
                self.spec.drives.len()
            ))
        })?;
        self.socket_check(socket)?;
        let sw = &self.spec.switches[inst.switch];
        let mut r = vec![self.drive_link[drive], self.uplink_up[inst.switch]];
        if sw.socket != socket {
            r.extend(self.xsocket[sw.socket][socket]);
        }
        r.push(self.dram[socket]);
        Ok(Path {
            resources: r,
            latency: Ps::ZERO,
        })
    }

    /// A drive's data path straight to a GPU (GPUDirect Storage): over the switch when
    /// they share one, else up to the host and down again.
    pub fn drive_to_gpu(&self, drive: usize, gpu: usize) -> Result<Path, WiringError> {
        let inst = self.spec.drives.get(drive).ok_or_else(|| {
            WiringError(format!(
                "drive {drive} does not exist: the node has {} drives",
                self.spec.drives.len()
            ))
        })?;
        self.gpu_check(gpu)?;
        let g = &self.spec.gpus[gpu];
        let mut r = vec![self.drive_link[drive]];
        match g.host_path {
            HostPath::PcieSwitch(s) if s == inst.switch => {}
            HostPath::PcieSwitch(s) => {
                r.push(self.uplink_up[inst.switch]);
                let (a, b) = (
                    self.spec.switches[inst.switch].socket,
                    self.spec.switches[s].socket,
                );
                if a != b {
                    r.extend(self.xsocket[a][b]);
                }
                r.push(self.uplink_down[s]);
            }
            HostPath::C2c(c) => {
                r.push(self.uplink_up[inst.switch]);
                r.push(self.c2c_down[c]);
            }
        }
        r.push(self.gpus[gpu].link_h2d);
        Ok(Path {
            resources: r,
            latency: Ps::ZERO,
        })
    }

    /// Amount of a GPU's compute resource that a kernel on `sms` SMs holds
    /// ([`crate::perf::sm_hold`]).
    pub fn sm_hold(&self, sms: u32) -> u64 {
        crate::perf::sm_hold(sms, self.spec.gpu.sms)
    }
}
