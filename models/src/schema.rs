//! The profile files as written (TOML, serde, `deny_unknown_fields` everywhere).
//!
//! One file per part. Every file starts with `kind` and `name`; `kind` is one of
//! `gpu`, `host`, `link`, `nic`, `nvme`, `fabric`, `system`. Every number is a
//! [`Tagged`] value carrying its basis and source. See hw-profiles/README.md.

use crate::quantity::{
    Basis, ByteRate, Bytes, Count, FlopRate, Iops, MicroDollars, MicroDollarsPerHour, Milliwatts,
    Picos, Ppm, Tagged,
};
use serde::Deserialize;

/// The kinds of profile file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartKind {
    Gpu,
    Host,
    Link,
    Nic,
    Nvme,
    Fabric,
    System,
}

impl PartKind {
    pub const ALL: [PartKind; 7] = [
        PartKind::Gpu,
        PartKind::Host,
        PartKind::Link,
        PartKind::Nic,
        PartKind::Nvme,
        PartKind::Fabric,
        PartKind::System,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PartKind::Gpu => "gpu",
            PartKind::Host => "host",
            PartKind::Link => "link",
            PartKind::Nic => "nic",
            PartKind::Nvme => "nvme",
            PartKind::Fabric => "fabric",
            PartKind::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<PartKind> {
        PartKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for PartKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A peak figure plus how much of it is achievable: exactly one of `achievable`
/// (a measured or estimated absolute figure) or `efficiency` (a fraction of peak).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "Q: Deserialize<'de>"))]
pub struct PeakAchievable<Q> {
    pub peak: Tagged<Q>,
    #[serde(default)]
    pub achievable: Option<Tagged<Q>>,
    #[serde(default)]
    pub efficiency: Option<Tagged<Ppm>>,
}

/// `kind = "gpu"`: one accelerator.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuProfile {
    pub kind: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub vendor: Option<String>,
    /// Values are preliminary (vendor says "subject to change").
    #[serde(default)]
    pub preliminary: bool,
    /// Streaming multiprocessors (NVIDIA) or compute units (AMD).
    #[serde(default)]
    pub sms: Option<Tagged<Count>>,
    #[serde(default)]
    pub l2: Option<Tagged<Bytes>>,
    pub copy_engines: Tagged<Count>,
    /// Small-kernel launch overhead charged per launch.
    pub kernel_launch: Tagged<Picos>,
    #[serde(default)]
    pub tdp: Option<Tagged<Milliwatts>>,
    pub memory: GpuMemory,
    pub compute: GpuCompute,
    /// Name of a `link` part: the GPU's link to its host (PCIe or NVLink-C2C).
    pub host_link: String,
    /// Name of a `link` part: the scale-up link (NVLink), per GPU.
    #[serde(default)]
    pub scale_up_link: Option<String>,
    /// What the op cost model needs beyond rates: kernel floor, GEMM tile, graph launch.
    #[serde(default)]
    pub kernels: Option<GpuKernels>,
}

/// `[kernels]` of a GPU profile: the op cost model's per-kernel terms.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuKernels {
    /// Shortest time a kernel occupies the GPU's timeline (a tiny kernel's recorded
    /// duration): no kernel takes less, whatever its work.
    pub floor: Tagged<Picos>,
    /// Output tile (rows, columns) of the GEMM library's kernels for large GEMMs; smaller
    /// GEMMs use the next power of two at or above their size, at least `gemm_tile_min`.
    pub gemm_tile_m: Tagged<Count>,
    pub gemm_tile_n: Tagged<Count>,
    pub gemm_tile_min: Tagged<Count>,
    /// CPU cost of launching one captured graph (`cudaGraphLaunch`).
    pub graph_launch: Tagged<Picos>,
    /// Effective bandwidth of memory-bound kernels (elementwise, norms, reductions), as
    /// `memwall calibrate --kineto` fits it; absent: the HBM's achievable bandwidth.
    #[serde(default)]
    pub memory_bandwidth: Option<Tagged<ByteRate>>,
    /// Effective bandwidth of memory-bound GEMMs (small or skinny products whose A, B
    /// and C traffic outlasts their FLOPs, e.g. batched attention `bmm`s), as
    /// `memwall calibrate --kineto` fits it; absent: the HBM's achievable bandwidth.
    #[serde(default)]
    pub gemm_memory_bandwidth: Option<Tagged<ByteRate>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuMemory {
    /// HBM3, HBM3e, HBM4, GDDR7.
    #[serde(rename = "type")]
    pub memory_type: String,
    pub capacity: Tagged<Bytes>,
    pub bandwidth: PeakAchievable<ByteRate>,
}

/// Dense (no sparsity) tensor throughput per data type.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuCompute {
    #[serde(default)]
    pub bf16: Option<PeakAchievable<FlopRate>>,
    #[serde(default)]
    pub fp8: Option<PeakAchievable<FlopRate>>,
    #[serde(default)]
    pub fp4: Option<PeakAchievable<FlopRate>>,
    /// TF32 tensor-core rate (FP32 GEMMs where the framework allows TF32).
    #[serde(default)]
    pub tf32: Option<PeakAchievable<FlopRate>>,
    /// Plain FP32 (CUDA cores / vector units): FP32 GEMMs without TF32.
    #[serde(default)]
    pub fp32: Option<PeakAchievable<FlopRate>>,
}

/// `kind = "host"`: one CPU socket type and its DRAM.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostProfile {
    pub kind: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub vendor: Option<String>,
    #[serde(default)]
    pub preliminary: bool,
    pub cores: Tagged<Count>,
    #[serde(default)]
    pub pcie_lanes: Option<Tagged<Count>>,
    pub memory: HostMemory,
    /// Penalty for reaching the other socket's DRAM; absent for single-socket designs.
    #[serde(default)]
    pub cross_socket: Option<CrossSocket>,
}

/// DRAM per socket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostMemory {
    #[serde(rename = "type")]
    pub memory_type: String,
    pub capacity: Tagged<Bytes>,
    pub bandwidth: PeakAchievable<ByteRate>,
    pub latency: Tagged<Picos>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossSocket {
    /// Bandwidth a socket gets reading the other socket's DRAM.
    pub bandwidth: Tagged<ByteRate>,
    /// Extra latency of a remote access.
    pub latency: Tagged<Picos>,
}

/// What a link is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkType {
    Pcie,
    Nvlink,
    NvlinkC2c,
    InfinityFabric,
}

impl LinkType {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkType::Pcie => "pcie",
            LinkType::Nvlink => "nvlink",
            LinkType::NvlinkC2c => "nvlink-c2c",
            LinkType::InfinityFabric => "infinity-fabric",
        }
    }
}

/// `kind = "link"`: a point-to-point link (PCIe, NVLink, NVLink-C2C).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkProfile {
    pub kind: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub preliminary: bool,
    #[serde(rename = "type")]
    pub link_type: LinkType,
    /// Per direction. For host links this is host-to-device (H2D).
    pub bandwidth: PeakAchievable<ByteRate>,
    /// Achievable in the reverse direction (D2H) where it differs.
    #[serde(default)]
    pub reverse_achievable: Option<Tagged<ByteRate>>,
    /// Fixed latency per transfer on the wire.
    pub latency: Tagged<Picos>,
    /// How many endpoints share one physical link (2 GPUs per Grace C2C).
    #[serde(default)]
    pub shared_by: Option<Tagged<Count>>,
    /// Required when `type = "pcie"`.
    #[serde(default)]
    pub pcie: Option<PcieDetails>,
    /// How collectives run over this link (NCCL protocols, NVLS, the peer path).
    #[serde(default)]
    pub collective: Option<CollectiveProfile>,
}

/// `[collective]` of a link or NIC: the cost of NCCL's algorithms and protocols over
/// it (docs/collectives.md). Absent: collectives over it fall back to one protocol at
/// the link's own bandwidth and latency.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectiveProfile {
    /// Ring algorithm, per protocol.
    pub ring: ProtocolSetProfile,
    /// Tree algorithm (all-reduce), per protocol; absent: no tree.
    #[serde(default)]
    pub tree: Option<ProtocolSetProfile>,
    /// NVLink SHARP all-reduce, where the switch behind this link has it.
    #[serde(default)]
    pub nvls: Option<NvlsProfile>,
    /// GPU to GPU through the host bridge (PCIe links of GPUs without NVLink).
    #[serde(default)]
    pub peer: Option<PeerPathProfile>,
}

/// One algorithm's cost under NCCL's three protocols.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolSetProfile {
    pub ll: ProtocolProfile,
    /// Absent where NCCL does not enable LL128 (it does only over NVLink).
    #[serde(default)]
    pub ll128: Option<ProtocolProfile>,
    pub simple: ProtocolProfile,
}

/// Latency and bandwidth of one algorithm under one protocol.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtocolProfile {
    /// Fixed cost per collective.
    pub base_latency: Tagged<Picos>,
    /// Cost per algorithm step (ring hop, tree level).
    pub step_latency: Tagged<Picos>,
    /// Bus bandwidth as a fraction of the link's achievable bandwidth.
    pub efficiency: Tagged<Ppm>,
    /// Ceiling on the bus bandwidth.
    #[serde(default)]
    pub max_bus_bandwidth: Option<Tagged<ByteRate>>,
}

/// NVLink SHARP (NVLS) all-reduce: the switch reduces; data moves in chunks whose size
/// NCCL picks by message size, and each round of chunks costs a fixed overhead.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NvlsProfile {
    /// Fixed cost per all-reduce.
    pub latency: Tagged<Picos>,
    /// Algorithm bandwidth with no per-chunk overhead.
    pub bandwidth: Tagged<ByteRate>,
    /// Overhead of one round of chunks (all concurrent operations moving one chunk).
    pub chunk_overhead: Tagged<Picos>,
    /// NVLS channels; each pulls from every rank (head) of the domain, so
    /// channels x ranks chunks are in flight at once.
    pub channels: Tagged<Count>,
    /// Chunk size for large messages.
    pub max_chunk: Tagged<Bytes>,
    /// Smaller chunks for smaller messages, largest first.
    #[serde(default)]
    pub chunk_schedule: Vec<ChunkStepProfile>,
    /// Fewest ranks NVLS runs on.
    pub min_ranks: Tagged<Count>,
}

/// `chunk` bytes once the message is below `rounds` x channels x ranks x the chunk size
/// in force before this step.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChunkStepProfile {
    pub rounds: u64,
    pub chunk: Bytes,
    pub basis: Basis,
    pub source: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// GPU-to-GPU copies through the host bridge (peer-to-peer, or staged through host
/// memory where the GPU has no P2P).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerPathProfile {
    /// Per direction.
    pub bandwidth: Tagged<ByteRate>,
    /// Latency of one step (a copy to the next GPU).
    pub latency: Tagged<Picos>,
}

/// PCIe transaction-layer parameters, so small scattered reads cost what they cost.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PcieDetails {
    pub generation: Tagged<Count>,
    pub lanes: Tagged<Count>,
    /// Fixed cost of a host-initiated DMA copy (driver, doorbell, completion).
    pub dma_setup: Tagged<Picos>,
    pub max_payload: Tagged<Bytes>,
    pub max_read_request: Tagged<Bytes>,
    /// Bytes of header, framing and CRC per TLP.
    pub tlp_overhead: Tagged<Bytes>,
}

/// `kind = "nic"`: a network adapter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NicProfile {
    pub kind: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub preliminary: bool,
    /// Per direction, per NIC.
    pub bandwidth: PeakAchievable<ByteRate>,
    /// One-way small-message latency through the NIC and one switch.
    pub latency: Tagged<Picos>,
    /// Name of a `link` part: the NIC's PCIe attach.
    pub host_link: String,
    #[serde(default)]
    pub ports: Option<Tagged<Count>>,
    /// How collectives run across nodes over this NIC.
    #[serde(default)]
    pub collective: Option<CollectiveProfile>,
}

/// `kind = "nvme"`: an SSD.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NvmeProfile {
    pub kind: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub preliminary: bool,
    /// Name of a `link` part: the drive's PCIe attach (x4).
    pub host_link: String,
    #[serde(default)]
    pub capacity: Option<Tagged<Bytes>>,
    pub seq_read: Tagged<ByteRate>,
    #[serde(default)]
    pub seq_write: Option<Tagged<ByteRate>>,
    /// 4 KiB random reads per second at high queue depth.
    pub random_read_iops: Tagged<Iops>,
    #[serde(default)]
    pub random_write_iops: Option<Tagged<Iops>>,
    /// Latency of one 4 KiB read at queue depth 1.
    pub read_latency_qd1: Tagged<Picos>,
    /// Read granularity: a 264-byte row costs a whole page.
    pub page_size: Tagged<Bytes>,
    pub max_queue_depth: Tagged<Count>,
}

/// `kind = "fabric"`: a scale-out network (switches, tiers, latency).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FabricProfile {
    pub kind: String,
    pub name: String,
    pub description: String,
    /// "InfiniBand NDR", "RoCE"...
    pub technology: String,
    pub latency_same_leaf: Tagged<Picos>,
    pub latency_cross_leaf: Tagged<Picos>,
    pub switch_radix: Tagged<Count>,
    pub tiers: Tagged<Count>,
    #[serde(default)]
    pub planes: Option<Tagged<Count>>,
    /// How NICs attach to leaves: `fat-tree`, `multi-plane-fat-tree` or `rail-optimised`.
    pub topology: FabricTopology,
    /// One switch port (leaf or spine), per direction.
    pub port_bandwidth: PeakAchievable<ByteRate>,
    /// Ports of each leaf that go up to the spines (the rest face the NICs): half the
    /// radix is non-blocking, fewer is oversubscribed.
    pub leaf_uplinks: Tagged<Count>,
}

/// How the NICs of the nodes attach to the leaf switches of a fabric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FabricTopology {
    /// One fabric; the NICs fill the leaves in order (node by node).
    FatTree,
    /// `planes` separate fat-trees; NIC `k` of every node is on plane `k % planes`
    /// (DeepSeek's MPFT, R16 §5.1): traffic between planes is forwarded inside a node.
    MultiPlaneFatTree,
    /// One fabric whose leaves are per rail: NIC `k` of the nodes of one scalable unit
    /// share a leaf, the spines join the rails (DGX SuperPOD).
    RailOptimised,
}

impl FabricTopology {
    pub fn as_str(self) -> &'static str {
        match self {
            FabricTopology::FatTree => "fat-tree",
            FabricTopology::MultiPlaneFatTree => "multi-plane-fat-tree",
            FabricTopology::RailOptimised => "rail-optimised",
        }
    }
}

/// `kind = "system"`: parts wired into a node, and nodes into a cluster.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemProfile {
    pub kind: String,
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub preliminary: bool,
    /// The node, written here...
    #[serde(default)]
    pub node: Option<NodeProfile>,
    /// ...or taken from another system by name (for cluster files).
    #[serde(default)]
    pub node_system: Option<String>,
    #[serde(default)]
    pub cluster: Option<ClusterProfile>,
    #[serde(default)]
    pub economics: Option<EconomicsProfile>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeProfile {
    pub gpu: String,
    pub gpu_count: Tagged<Count>,
    pub host: String,
    pub sockets: Tagged<Count>,
    /// Overrides the host part's DRAM capacity per socket (as configured in this system).
    #[serde(default)]
    pub dram_per_socket: Option<Tagged<Bytes>>,
    /// Overrides the GPU part's host link (a `link` name).
    #[serde(default)]
    pub gpu_host_link: Option<String>,
    /// GPUs in one NVLink domain (8 for HGX, 72 for NVL72; may span nodes).
    pub nvlink_domain: Tagged<Count>,
    #[serde(default)]
    pub nic: Option<String>,
    #[serde(default)]
    pub nic_count: Option<Tagged<Count>>,
    #[serde(default)]
    pub drive: Option<String>,
    #[serde(default)]
    pub drive_count: Option<Tagged<Count>>,
    #[serde(default)]
    pub switches: Vec<SwitchProfile>,
    #[serde(default)]
    pub c2c: Vec<C2cGroupProfile>,
}

/// A PCIe switch: which GPUs, NICs and drives (0-based indices) hang off it, and
/// which socket it hangs off through which uplink.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchProfile {
    pub name: String,
    pub socket: u32,
    /// Name of a `link` part: switch to socket.
    pub uplink: String,
    #[serde(default)]
    pub gpus: Vec<u32>,
    #[serde(default)]
    pub nics: Vec<u32>,
    #[serde(default)]
    pub drives: Vec<u32>,
    pub basis: Basis,
    pub source: String,
    #[serde(default)]
    pub note: Option<String>,
}

/// GPUs attached to a socket by NVLink-C2C (Grace/Vera superchips).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct C2cGroupProfile {
    pub socket: u32,
    pub gpus: Vec<u32>,
    /// Name of a `link` part of type nvlink-c2c.
    pub link: String,
    pub basis: Basis,
    pub source: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterProfile {
    pub nodes: Tagged<Count>,
    /// Name of a `fabric` part.
    pub fabric: String,
    #[serde(default)]
    pub topology: Option<String>,
}

/// Per node.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EconomicsProfile {
    #[serde(default)]
    pub purchase: Option<Tagged<MicroDollars>>,
    #[serde(default)]
    pub hourly: Option<Tagged<MicroDollarsPerHour>>,
    #[serde(default)]
    pub power: Option<Tagged<Milliwatts>>,
    #[serde(default)]
    pub rack_units: Option<Tagged<Count>>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Any parsed profile file.
#[derive(Debug, Clone, PartialEq)]
pub enum Profile {
    Gpu(GpuProfile),
    Host(HostProfile),
    Link(LinkProfile),
    Nic(NicProfile),
    Nvme(NvmeProfile),
    Fabric(FabricProfile),
    System(SystemProfile),
}

impl Profile {
    pub fn kind(&self) -> PartKind {
        match self {
            Profile::Gpu(_) => PartKind::Gpu,
            Profile::Host(_) => PartKind::Host,
            Profile::Link(_) => PartKind::Link,
            Profile::Nic(_) => PartKind::Nic,
            Profile::Nvme(_) => PartKind::Nvme,
            Profile::Fabric(_) => PartKind::Fabric,
            Profile::System(_) => PartKind::System,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Profile::Gpu(p) => &p.name,
            Profile::Host(p) => &p.name,
            Profile::Link(p) => &p.name,
            Profile::Nic(p) => &p.name,
            Profile::Nvme(p) => &p.name,
            Profile::Fabric(p) => &p.name,
            Profile::System(p) => &p.name,
        }
    }

    pub fn description(&self) -> &str {
        match self {
            Profile::Gpu(p) => &p.description,
            Profile::Host(p) => &p.description,
            Profile::Link(p) => &p.description,
            Profile::Nic(p) => &p.description,
            Profile::Nvme(p) => &p.description,
            Profile::Fabric(p) => &p.description,
            Profile::System(p) => &p.description,
        }
    }
}
