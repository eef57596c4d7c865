//! The normalised, simulator-agnostic op graph recovered from a trace.
//!
//! Times are integer nanoseconds on the trace's host clock (absolute epoch ns when the
//! trace says so). The graph knows nothing about the DES: the lead converts ns to the
//! simulator's picoseconds and re-times ops on another hardware profile.

use std::fmt;

/// Index of an op in [`TraceGraph::ops`].
pub type OpId = u32;
/// Index of a name in [`TraceGraph::names`].
pub type NameId = u32;
/// Index of a phase label in [`TraceGraph::phases`].
pub type PhaseId = u32;

/// Direction of a memory copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CopyDir {
    HostToDevice,
    DeviceToHost,
    DeviceToDevice,
    PeerToPeer,
    HostToHost,
    Unknown,
}

impl CopyDir {
    pub fn label(self) -> &'static str {
        match self {
            CopyDir::HostToDevice => "H2D",
            CopyDir::DeviceToHost => "D2H",
            CopyDir::DeviceToDevice => "D2D",
            CopyDir::PeerToPeer => "P2P",
            CopyDir::HostToHost => "H2H",
            CopyDir::Unknown => "copy?",
        }
    }
}

/// Kind of communication.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CommCategory {
    AllReduce,
    AllGather,
    ReduceScatter,
    Reduce,
    Broadcast,
    AllToAll,
    SendRecv,
    /// DeepEP token dispatch (expert all-to-all, send side of MoE).
    EpDispatch,
    /// DeepEP combine (expert all-to-all back).
    EpCombine,
    /// DeepEP notify_dispatch / cached_notify (size exchange).
    EpNotify,
    Other,
}

impl CommCategory {
    pub fn label(self) -> &'static str {
        match self {
            CommCategory::AllReduce => "all-reduce",
            CommCategory::AllGather => "all-gather",
            CommCategory::ReduceScatter => "reduce-scatter",
            CommCategory::Reduce => "reduce",
            CommCategory::Broadcast => "broadcast",
            CommCategory::AllToAll => "all-to-all",
            CommCategory::SendRecv => "send-recv",
            CommCategory::EpDispatch => "ep-dispatch",
            CommCategory::EpCombine => "ep-combine",
            CommCategory::EpNotify => "ep-notify",
            CommCategory::Other => "comm-other",
        }
    }
}

/// What bounds an op's time, which decides how the replay re-times it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Bound {
    /// FLOP rate (GEMM, attention).
    Compute,
    /// HBM bandwidth (elementwise, normalisation, reduction).
    Memory,
    /// Link bandwidth and latency.
    Communication,
    /// Copy engine / PCIe / NVLink copy.
    Copy,
}

/// Classification of a GPU op (traces.md §3.3; name rules in `classify.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpClass {
    Gemm,
    Attention,
    Elementwise,
    Normalization,
    Reduction,
    Communication(CommCategory),
    Copy(CopyDir),
    Memset,
}

impl OpClass {
    pub fn bound(self) -> Bound {
        match self {
            OpClass::Gemm | OpClass::Attention => Bound::Compute,
            OpClass::Elementwise | OpClass::Normalization | OpClass::Reduction => Bound::Memory,
            OpClass::Communication(_) => Bound::Communication,
            OpClass::Copy(_) | OpClass::Memset => Bound::Copy,
        }
    }

    pub fn is_comm(self) -> bool {
        matches!(self, OpClass::Communication(_))
    }

    /// A non-communication kernel (the "compute" side of the overlap metric).
    pub fn is_compute_kernel(self) -> bool {
        matches!(
            self,
            OpClass::Gemm
                | OpClass::Attention
                | OpClass::Elementwise
                | OpClass::Normalization
                | OpClass::Reduction
        )
    }

    pub fn label(self) -> String {
        match self {
            OpClass::Gemm => "gemm".into(),
            OpClass::Attention => "attention".into(),
            OpClass::Elementwise => "elementwise".into(),
            OpClass::Normalization => "normalization".into(),
            OpClass::Reduction => "reduction".into(),
            OpClass::Communication(c) => format!("comm:{}", c.label()),
            OpClass::Copy(d) => format!("memcpy:{}", d.label()),
            OpClass::Memset => "memset".into(),
        }
    }
}

impl fmt::Display for OpClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// What the op is at the CUDA/HIP level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpKind {
    Kernel,
    Memcpy {
        dir: CopyDir,
        bytes: Option<u64>,
        pinned: Option<bool>,
    },
    Memset {
        bytes: Option<u64>,
    },
}

/// Communication metadata: from NCCL's kernel args where present, else from the name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommMeta {
    /// `Collective name` as PyTorch wrote it (`allreduce`, `_allgather_base`, ...).
    pub collective: Option<String>,
    pub algorithm: Option<String>,
    pub protocol: Option<String>,
    pub in_nelems: Option<u64>,
    pub out_nelems: Option<u64>,
    pub dtype: Option<String>,
    pub group_size: Option<u32>,
    pub pg_name: Option<String>,
    pub pg_desc: Option<String>,
    pub pg_ranks: Option<Vec<u32>>,
    pub seq: Option<u64>,
}

impl CommMeta {
    /// Input message size in bytes (`In msg nelems` x dtype size), where both are known.
    pub fn in_bytes(&self) -> Option<u64> {
        let e = super::classify::dtype_bytes(self.dtype.as_deref()?)?;
        self.in_nelems?.checked_mul(e)
    }
    /// Output message size in bytes.
    pub fn out_bytes(&self) -> Option<u64> {
        let e = super::classify::dtype_bytes(self.dtype.as_deref()?)?;
        self.out_nelems?.checked_mul(e)
    }
}

/// The CPU call that launched an op (cudaLaunchKernel, cuLaunchKernelEx, cudaMemcpyAsync,
/// cudaGraphLaunch, hipLaunchKernel, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    /// API name id (in [`TraceGraph::names`]).
    pub api: NameId,
    /// CPU thread index (in [`TraceGraph::threads`]).
    pub thread: u32,
    pub start_ns: i64,
    pub dur_ns: i64,
    /// Launched through a CUDA/HIP graph (`cudaGraphLaunch`, `hipGraphLaunch`): one launch
    /// produces many ops.
    pub graph: bool,
}

/// The framework op (a PyTorch `cpu_op`) that launched a GPU op, with the shapes the
/// profiler recorded (`record_shapes=True`), joined on the external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpShape {
    /// Op name id (in [`TraceGraph::names`]), e.g. `aten::addmm`.
    pub op: NameId,
    /// `Input Dims`: per argument, the dims of each tensor it holds (none for a scalar,
    /// several for a tensor list).
    pub inputs: Vec<Vec<Vec<u64>>>,
    /// `Input type`: per argument, e.g. `c10::BFloat16`, `float`, `Scalar`.
    pub types: Vec<String>,
}

/// One GPU op (kernel, memcpy, memset) on one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuOp {
    pub id: OpId,
    pub device: i64,
    pub stream: i64,
    pub name: NameId,
    pub kind: OpKind,
    pub class: OpClass,
    pub start_ns: i64,
    pub dur_ns: i64,
    pub correlation: Option<i64>,
    pub external_id: Option<i64>,
    pub launch: Option<Launch>,
    /// Innermost CPU `user_annotation` around the launch call on the launching thread, else
    /// the innermost `gpu_user_annotation` around the op on its stream.
    pub phase: Option<PhaseId>,
    pub grid: Option<[u32; 3]>,
    pub block: Option<[u32; 3]>,
    pub graph_id: Option<i64>,
    pub comm: Option<Box<CommMeta>>,
    /// The launching framework op and its shapes, where the trace recorded them.
    pub shape: Option<Box<OpShape>>,
}

impl GpuOp {
    pub fn end_ns(&self) -> i64 {
        self.start_ns.saturating_add(self.dur_ns)
    }
}

/// Why a cross-stream dependency exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DepKind {
    /// A `cuda_sync` "Stream Wait Event" event recorded on the GPU.
    RecordedWait,
    /// A `cudaStreamWaitEvent`/`hipStreamWaitEvent` call on the CPU with no GPU-side
    /// record (rule I1 in docs/trace-import.md).
    InferredWaitCall,
    /// An op that sat ready (launched, stream free) until another stream's op ended
    /// (rule I2).
    InferredGap,
}

/// `to` may not start before `from` has ended. Same-stream order is implicit (see
/// [`StreamTimeline::ops`]) and not listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dependency {
    pub from: OpId,
    pub to: OpId,
    pub kind: DepKind,
}

/// A `cuda_sync` event as recorded (Stream Wait Event, Event Sync, Context Sync, Stream Sync).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncEvent {
    pub device: i64,
    pub stream: Option<i64>,
    pub kind: String,
    pub start_ns: i64,
    pub dur_ns: i64,
    pub correlation: Option<i64>,
    pub wait_on_stream: Option<i64>,
    pub wait_on_record_correlation: Option<i64>,
    pub event_id: Option<i64>,
}

/// A `gpu_user_annotation` range (never counts as busy time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuAnnotation {
    pub device: i64,
    pub stream: i64,
    pub name: NameId,
    pub start_ns: i64,
    pub dur_ns: i64,
}

/// A CPU `user_annotation` range (record_function), e.g. `attn(F)`, `ProfilerStep#1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuAnnotation {
    pub thread: u32,
    pub name: NameId,
    pub start_ns: i64,
    pub dur_ns: i64,
}

/// The ops of one stream, in start order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamTimeline {
    pub stream: i64,
    pub ops: Vec<OpId>,
}

/// `deviceProperties` entry: identifies the source hardware.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceProps {
    pub id: i64,
    pub name: String,
    pub num_sms: Option<u32>,
    pub total_global_mem: Option<u64>,
    pub compute_major: Option<u32>,
    pub compute_minor: Option<u32>,
}

/// One GPU's streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTimeline {
    pub device: i64,
    pub props: Option<DeviceProps>,
    pub streams: Vec<StreamTimeline>,
    /// Median (op start - launch call start) over launched ops, ns.
    pub median_launch_to_start_ns: Option<i64>,
    /// The CPU could not run ahead: median launch-to-start below 50 us. Then each op's
    /// `launch.start_ns` should be a constraint in the replay.
    pub launch_bound: bool,
}

/// Trace-level metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TraceMeta {
    pub trace_name: Option<String>,
    pub schema_version: Option<i64>,
    pub base_time_ns: Option<i64>,
    /// All `deviceProperties` entries.
    pub device_properties: Vec<DeviceProps>,
    pub rank: Option<i64>,
    pub world_size: Option<i64>,
    pub backend: Option<String>,
    /// Source hardware, e.g. `NVIDIA H800`: the name of the traced device(s).
    pub gpu_name: Option<String>,
}

/// Counters from the import, for reports and sanity checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportStats {
    pub raw: super::parse::RawStats,
    pub gpu_ops: usize,
    pub launched_ops: usize,
    pub ops_with_phase: usize,
    pub runtime_calls: usize,
    pub cpu_annotations: usize,
    pub sync_events: usize,
    /// Pairs of consecutive ops on one stream that overlap by more than 1 us (should be 0).
    pub same_stream_overlaps: usize,
}

/// The imported trace: the op graph and what it was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceGraph {
    /// Path or name of the source.
    pub source: String,
    pub meta: TraceMeta,
    /// Ops sorted by (device, stream, start, correlation); `ops[i].id == i`.
    pub ops: Vec<GpuOp>,
    /// Devices in id order, each with its streams in id order.
    pub devices: Vec<DeviceTimeline>,
    /// Cross-stream dependencies, sorted by (to, from).
    pub deps: Vec<Dependency>,
    pub syncs: Vec<SyncEvent>,
    pub gpu_annotations: Vec<GpuAnnotation>,
    pub cpu_annotations: Vec<CpuAnnotation>,
    /// Interned op, API and annotation names.
    pub names: Vec<String>,
    /// Phase labels (a subset of names).
    pub phases: Vec<String>,
    /// CPU threads as `pid/tid` text.
    pub threads: Vec<String>,
    pub stats: ImportStats,
}

impl TraceGraph {
    pub fn name(&self, id: NameId) -> &str {
        &self.names[id as usize]
    }
    pub fn op_name(&self, op: &GpuOp) -> &str {
        self.name(op.name)
    }
    pub fn phase_label(&self, op: &GpuOp) -> Option<&str> {
        op.phase.map(|p| self.phases[p as usize].as_str())
    }
    pub fn device(&self, device: i64) -> Option<&DeviceTimeline> {
        self.devices.iter().find(|d| d.device == device)
    }
}
