//! Resolved, typed specs that the simulator consumes: references followed, achievable
//! figures computed (peak × efficiency, or the measured figure), plain integer units.
//!
//! Units: bytes (`u64`), bytes per second (`u64`), picoseconds (`u64`), FLOP per second
//! (`u64`), operations per second (`u64`), milliwatts (`u64`), micro-dollars (`u64`).

use crate::schema::LinkType;

/// A rate with its peak and the figure the model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub peak: u64,
    /// What the simulator uses: measured, or peak × efficiency.
    pub achievable: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuSpec {
    pub name: String,
    pub description: String,
    pub preliminary: bool,
    /// SMs (or CUs); `None` where unpublished.
    pub sms: Option<u32>,
    pub l2_bytes: Option<u64>,
    pub copy_engines: u32,
    pub kernel_launch_ps: u64,
    pub tdp_mw: Option<u64>,
    pub memory_type: String,
    pub hbm_capacity_bytes: u64,
    /// Bytes per second.
    pub hbm_bandwidth: Rate,
    pub compute: ComputeSpec,
    pub host_link: LinkSpec,
    pub scale_up_link: Option<LinkSpec>,
    pub kernels: KernelSpec,
}

/// Dense FLOP/s per data type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ComputeSpec {
    pub bf16: Option<Rate>,
    pub fp8: Option<Rate>,
    pub fp4: Option<Rate>,
    pub tf32: Option<Rate>,
    pub fp32: Option<Rate>,
}

/// The op cost model's per-kernel terms (`[kernels]` of the GPU profile). A profile
/// without the table gets no floor and no tile quantisation (tiles of 1 x 1), and a graph
/// launch priced like a kernel launch: nothing is invented for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelSpec {
    pub floor_ps: u64,
    pub tile_m: u32,
    pub tile_n: u32,
    pub tile_min: u32,
    pub graph_launch_ps: u64,
    /// Bytes/s of memory-bound kernels, where the profile gives one (else the HBM's).
    pub memory_bw: Option<u64>,
    /// Bytes/s of memory-bound GEMMs, where the profile gives one (else the HBM's).
    pub gemm_memory_bw: Option<u64>,
    /// The profile has a `[kernels]` table.
    pub given: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    pub name: String,
    pub link_type: LinkType,
    /// Per direction (forward = host-to-device for host links), bytes per second.
    pub bandwidth: Rate,
    /// Achievable in the reverse direction (device-to-host), bytes per second.
    pub reverse_achievable: u64,
    pub latency_ps: u64,
    /// Endpoints sharing the physical link (1 unless stated).
    pub shared_by: u32,
    pub pcie: Option<PcieSpec>,
    /// How collectives run over this link; `None`: one protocol at the link's figures.
    pub collective: Option<CollectiveSpec>,
}

/// Resolved `[collective]` of a link or NIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectiveSpec {
    pub ring: ProtocolSet,
    pub tree: Option<ProtocolSet>,
    pub nvls: Option<NvlsSpec>,
    pub peer: Option<PeerPathSpec>,
}

/// One algorithm under NCCL's protocols, indexed LL, LL128, Simple; `None` where the
/// protocol does not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolSet(pub [Option<ProtocolSpec>; 3]);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolSpec {
    pub base_latency_ps: u64,
    pub step_latency_ps: u64,
    pub efficiency_ppm: u32,
    /// Bus bandwidth ceiling, bytes per second.
    pub max_bus_bandwidth: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvlsSpec {
    pub latency_ps: u64,
    /// Algorithm bandwidth without chunk overhead, bytes per second.
    pub bandwidth: u64,
    pub chunk_overhead_ps: u64,
    /// NVLS channels (chunks in flight: channels x ranks).
    pub channels: u64,
    pub max_chunk: u64,
    /// `(rounds, chunk)`, largest chunk first.
    pub chunk_schedule: Vec<(u64, u64)>,
    pub min_ranks: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerPathSpec {
    pub bandwidth: u64,
    pub latency_ps: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcieSpec {
    pub generation: u32,
    pub lanes: u32,
    pub dma_setup_ps: u64,
    pub max_payload_bytes: u64,
    pub max_read_request_bytes: u64,
    pub tlp_overhead_bytes: u64,
}

impl PcieSpec {
    /// Bytes on the wire to read `payload` bytes: completions carry at most
    /// `min(max_payload, max_read_request)` bytes each, and every TLP pays
    /// `tlp_overhead`. A scattered read of many small rows pays this per row.
    pub fn read_wire_bytes(&self, payload: u64) -> u64 {
        let chunk = self
            .max_payload_bytes
            .min(self.max_read_request_bytes)
            .max(1);
        let tlps = payload.div_ceil(chunk).max(1);
        payload.saturating_add(tlps.saturating_mul(self.tlp_overhead_bytes))
    }

    /// Wire efficiency of large transfers, in parts per million.
    pub fn large_transfer_efficiency_ppm(&self) -> u32 {
        let p = self.max_payload_bytes.max(1) as u128;
        (p * 1_000_000 / (p + self.tlp_overhead_bytes as u128)) as u32
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSpec {
    pub name: String,
    pub description: String,
    pub cores: u32,
    pub pcie_lanes: Option<u32>,
    pub memory_type: String,
    /// Per socket.
    pub dram_capacity_bytes: u64,
    /// Per socket, bytes per second.
    pub dram_bandwidth: Rate,
    pub dram_latency_ps: u64,
    pub cross_socket: Option<CrossSocketSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrossSocketSpec {
    pub bandwidth: u64,
    pub extra_latency_ps: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicSpec {
    pub name: String,
    pub description: String,
    /// Per direction, bytes per second.
    pub bandwidth: Rate,
    pub latency_ps: u64,
    pub host_link: LinkSpec,
    pub ports: Option<u32>,
    pub collective: Option<CollectiveSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvmeSpec {
    pub name: String,
    pub description: String,
    pub host_link: LinkSpec,
    pub capacity_bytes: Option<u64>,
    pub seq_read: u64,
    pub seq_write: Option<u64>,
    pub random_read_iops: u64,
    pub random_write_iops: Option<u64>,
    pub read_latency_qd1_ps: u64,
    pub page_size_bytes: u64,
    pub max_queue_depth: u32,
}

impl NvmeSpec {
    /// Bytes the drive actually reads for a `payload`-byte request (whole pages).
    pub fn read_bytes_for(&self, payload: u64) -> u64 {
        let p = self.page_size_bytes.max(1);
        payload.div_ceil(p).max(1).saturating_mul(p)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FabricSpec {
    pub name: String,
    pub description: String,
    pub technology: String,
    pub latency_same_leaf_ps: u64,
    pub latency_cross_leaf_ps: u64,
    pub switch_radix: u32,
    pub tiers: u32,
    pub planes: Option<u32>,
    pub topology: crate::schema::FabricTopology,
    /// One switch port, per direction, bytes per second.
    pub port_bandwidth: Rate,
    /// Leaf ports facing the spines; `switch_radix - leaf_uplinks` face the NICs.
    pub leaf_uplinks: u32,
}

/// A whole system: one node type, optionally a cluster of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemSpec {
    pub name: String,
    pub description: String,
    pub preliminary: bool,
    pub node: NodeSpec,
    pub cluster: Option<ClusterSpec>,
    pub economics: EconomicsSpec,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// The GPU part (all GPUs of a node are the same part).
    pub gpu: GpuSpec,
    /// One entry per GPU, index = position.
    pub gpus: Vec<GpuInstance>,
    pub host: HostSpec,
    /// One entry per socket, with this system's DRAM configuration.
    pub sockets: Vec<SocketSpec>,
    pub switches: Vec<SwitchSpec>,
    pub c2c_groups: Vec<C2cGroupSpec>,
    pub nic: Option<NicSpec>,
    pub nics: Vec<NicInstance>,
    pub drive: Option<NvmeSpec>,
    pub drives: Vec<DriveInstance>,
    pub nvlink: Option<NvlinkDomainSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuInstance {
    pub index: usize,
    /// The socket whose DRAM is local to this GPU.
    pub socket: usize,
    /// The PCIe switch this GPU sits on, if any.
    pub switch: Option<usize>,
    /// The NVLink-C2C group this GPU belongs to, if any.
    pub c2c_group: Option<usize>,
    /// NICs this GPU uses (indices into `NodeSpec::nics`).
    pub nics: Vec<usize>,
    /// The path host-to-device copies take.
    pub host_path: HostPath,
    /// The GPU's own link to its host (the switch port or the C2C share).
    pub host_link: LinkSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPath {
    /// Over the GPU's PCIe link into switch `n`, then the switch's uplink to the socket.
    PcieSwitch(usize),
    /// Over NVLink-C2C group `n`'s link to the socket.
    C2c(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketSpec {
    pub index: usize,
    pub dram_capacity_bytes: u64,
    pub dram_bandwidth: Rate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchSpec {
    pub index: usize,
    pub name: String,
    pub socket: usize,
    /// Switch-to-socket link; its achievable bandwidth is the uplink bandwidth.
    pub uplink: LinkSpec,
    pub gpus: Vec<usize>,
    pub nics: Vec<usize>,
    pub drives: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct C2cGroupSpec {
    pub index: usize,
    pub socket: usize,
    pub gpus: Vec<usize>,
    /// The shared C2C link (its bandwidth is for the whole group).
    pub link: LinkSpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NicInstance {
    pub index: usize,
    pub switch: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriveInstance {
    pub index: usize,
    pub switch: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvlinkDomainSpec {
    /// GPUs in one NVLink domain (may exceed the node's GPU count: NVL72).
    pub domain_size: u32,
    /// Per-GPU scale-up link.
    pub link: LinkSpec,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    pub nodes: u32,
    pub total_gpus: u64,
    pub fabric: FabricSpec,
    pub topology: Option<String>,
}

/// Per node; `None` where the profile does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EconomicsSpec {
    pub purchase_micro_usd: Option<u64>,
    pub hourly_micro_usd: Option<u64>,
    pub power_mw: Option<u64>,
    pub rack_units: Option<u32>,
}
