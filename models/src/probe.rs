//! Simulated micro-benchmarks: the counterpart of nvbandwidth and fio on a profile.
//!
//! Every figure comes from running the transfer on the discrete-event kernel over the
//! wired node, not from a closed form, so a user can hold a profile (and the wiring)
//! against their own measurements.

use crate::gather;
use crate::node::{NodeModel, WiringError};
use crate::spec::{NodeSpec, SystemSpec};
use memwall_sim::{Executor, FlowNet, OpKind, OpSpec, Ps, Work};

/// What to measure.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProbeKind {
    /// Pinned host memory to device, copy engine, by transfer size.
    H2d,
    /// Device to pinned host memory, copy engine, by transfer size.
    D2h,
    /// Device to device over NVLink, by transfer size.
    D2d,
    /// Scattered small rows read from pinned host memory by the GPU (zero-copy), by row
    /// count, beside a bulk copy of the same bytes.
    Gather,
    /// NVMe 4 KiB random reads, by queue depth.
    Nvme,
    /// HBM device-local copy, by transfer size.
    Hbm,
}

impl ProbeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeKind::H2d => "h2d",
            ProbeKind::D2h => "d2h",
            ProbeKind::D2d => "d2d",
            ProbeKind::Gather => "gather",
            ProbeKind::Nvme => "nvme",
            ProbeKind::Hbm => "hbm",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ProbeOptions {
    pub gpu: usize,
    /// Socket whose DRAM holds the host buffer; `None`: the GPU's own socket.
    pub socket: Option<usize>,
    /// Row size for the gather probe.
    pub row_bytes: u64,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            gpu: 0,
            socket: None,
            row_bytes: 264,
        }
    }
}

/// A probe's result: named columns (with units) and rows of values, ready to print or
/// write as CSV.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeTable {
    pub title: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl ProbeTable {
    /// Fixed-width text table.
    pub fn to_text(&self) -> String {
        let mut w: Vec<usize> = self.columns.iter().map(|c| c.len()).collect();
        for r in &self.rows {
            for (i, v) in r.iter().enumerate() {
                w[i] = w[i].max(v.len());
            }
        }
        let mut out = format!("{}\n", self.title);
        let line = |cells: &[String]| {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{:>width$}", c, width = w[i]))
                .collect::<Vec<_>>()
                .join("  ")
        };
        out += &line(&self.columns);
        out.push('\n');
        for r in &self.rows {
            out += &line(r);
            out.push('\n');
        }
        out
    }
}

const SIZES: [u64; 11] = [
    4 << 10,
    16 << 10,
    64 << 10,
    256 << 10,
    1 << 20,
    4 << 20,
    16 << 20,
    64 << 20,
    256 << 20,
    1 << 30,
    4 << 30,
];

fn gbps(bytes: u64, t: Ps) -> f64 {
    if t.0 == 0 {
        return 0.0;
    }
    bytes as f64 / t.as_secs_f64() / 1e9
}

/// Run one op built by `f` on a freshly wired node; return its duration.
fn time_one(
    system: &SystemSpec,
    f: impl FnOnce(&NodeModel) -> Result<Work, WiringError>,
) -> Result<Ps, WiringError> {
    let mut ex = Executor::new(FlowNet::new());
    let node = NodeModel::build(&system.node, &mut ex, "")?;
    let work = f(&node)?;
    let c = ex.category("probe", OpKind::Memory);
    let s = ex.add_stream("probe", true, false);
    let op = ex.add_op(OpSpec::new(s, c, work))?;
    ex.run()?;
    let rec = ex
        .timeline()
        .get(op)
        .ok_or_else(|| WiringError("probe op lost".into()))?;
    Ok(rec.end - rec.start)
}

/// Run a probe on `system`.
pub fn probe(
    system: &SystemSpec,
    kind: ProbeKind,
    opts: &ProbeOptions,
) -> Result<ProbeTable, WiringError> {
    let node = &system.node;
    if opts.gpu >= node.gpus.len() {
        return Err(WiringError(format!(
            "--gpu {} does not exist: {} has GPUs 0..{}",
            opts.gpu,
            system.name,
            node.gpus.len()
        )));
    }
    let socket = opts.socket.unwrap_or(node.gpus[opts.gpu].socket);
    let gpu = opts.gpu;
    let name = &system.name;
    match kind {
        ProbeKind::H2d => size_table(
            system,
            format!("{name}: pinned host (socket {socket}) to GPU {gpu}, copy engine"),
            &|n, size| Ok(n.h2d_copy(socket, gpu)?.transfer(size)),
            1,
        ),
        ProbeKind::D2h => size_table(
            system,
            format!("{name}: GPU {gpu} to pinned host (socket {socket}), copy engine"),
            &|n, size| Ok(n.d2h_copy(gpu, socket)?.transfer(size)),
            1,
        ),
        ProbeKind::D2d => {
            let peer = if gpu + 1 < node.gpus.len() {
                gpu + 1
            } else {
                0
            };
            if peer == gpu {
                return Err(WiringError(format!(
                    "{name} has one GPU: no device-to-device probe"
                )));
            }
            size_table(
                system,
                format!("{name}: GPU {gpu} to GPU {peer} over NVLink"),
                &|n, size| Ok(n.nvlink(gpu, peer)?.transfer(size)),
                1,
            )
        }
        ProbeKind::Hbm => size_table(
            system,
            format!("{name}: GPU {gpu} HBM copy (read + write counted, as BabelStream)"),
            &|n, size| hbm_copy(n, gpu, size),
            2,
        ),
        ProbeKind::Gather => gather_table(system, socket, gpu, opts.row_bytes),
        ProbeKind::Nvme => nvme_table(system),
    }
}

/// Time and bandwidth by transfer size of the op `f` builds; `bytes_factor` counts
/// bytes moved per byte of size (2 for a copy that reads and writes).
fn size_table(
    system: &SystemSpec,
    title: String,
    f: &dyn Fn(&NodeModel, u64) -> Result<Work, WiringError>,
    bytes_factor: u64,
) -> Result<ProbeTable, WiringError> {
    let mut rows = Vec::new();
    for &size in &SIZES {
        let t = time_one(system, |n| f(n, size))?;
        rows.push(vec![
            size.to_string(),
            format!("{:.3}", t.as_us_f64()),
            format!("{:.2}", gbps(size * bytes_factor, t)),
        ]);
    }
    Ok(ProbeTable {
        title,
        columns: vec![
            "size_bytes".into(),
            "time_us".into(),
            "bandwidth_GB_per_s".into(),
        ],
        rows,
    })
}

/// A device-local copy of `size` bytes: a kernel launch, then `2 * size` bytes of HBM
/// traffic.
fn hbm_copy(n: &NodeModel, gpu: usize, size: u64) -> Result<Work, WiringError> {
    let hbm = n.hbm(gpu)?;
    let launch = Ps(n.spec.gpu.kernel_launch_ps);
    Ok(Work::Transfer {
        latency: launch,
        flows: vec![memwall_sim::FlowSpec {
            path: vec![hbm],
            bytes: 2 * size,
            rate_cap: None,
        }],
    })
}

/// Zero-copy gather of `row`-byte rows against one bulk copy of the same bytes, by
/// row count.
fn gather_table(
    system: &SystemSpec,
    socket: usize,
    gpu: usize,
    row: u64,
) -> Result<ProbeTable, WiringError> {
    if row == 0 || row > (1 << 20) {
        return Err(WiringError(format!(
            "--row-bytes {row} is out of range: give 1 B to 1 MiB"
        )));
    }
    let mut rows = Vec::new();
    for count in [1u64, 16, 256, 4096, 65_536, 1 << 20] {
        let payload = row * count;
        let t_gather = time_one(system, |n| {
            let g = gather::zero_copy_gather(n, socket, gpu, row, count)?;
            Ok(g.work)
        })?;
        let t_bulk = time_one(system, |n| Ok(n.h2d_copy(socket, gpu)?.transfer(payload)))?;
        rows.push(vec![
            row.to_string(),
            count.to_string(),
            payload.to_string(),
            format!("{:.3}", t_gather.as_us_f64()),
            format!("{:.2}", gbps(payload, t_gather)),
            format!("{:.3}", t_bulk.as_us_f64()),
            format!("{:.2}", gbps(payload, t_bulk)),
        ]);
    }
    Ok(ProbeTable {
        title: format!(
            "{}: {row}-byte rows scattered in pinned host memory (socket {socket}) read by GPU {gpu}: zero-copy gather vs one bulk copy of the same bytes",
            system.name
        ),
        columns: vec![
            "row_bytes".into(),
            "rows".into(),
            "payload_bytes".into(),
            "gather_time_us".into(),
            "gather_GB_per_s".into(),
            "bulk_copy_time_us".into(),
            "bulk_copy_GB_per_s".into(),
        ],
        rows,
    })
}

/// Random page reads on the first drive, queue depth 1 to 256.
fn nvme_table(system: &SystemSpec) -> Result<ProbeTable, WiringError> {
    let node = &system.node;
    let Some(drive) = &node.drive else {
        return Err(WiringError(format!(
            "{} has no NVMe drives: pick a system with drives",
            system.name
        )));
    };
    if node.drives.is_empty() {
        return Err(WiringError(format!("{} has no NVMe drives", system.name)));
    }
    let page = drive.page_size_bytes;
    let mut rows = Vec::new();
    let mut qd = 1u32;
    while qd <= 256 {
        rows.push(nvme_row(node, page, qd)?);
        qd *= 2;
    }
    Ok(ProbeTable {
        title: format!(
            "{}: {} {} B random reads, one drive, by queue depth",
            system.name, drive.name, page
        ),
        columns: vec![
            "queue_depth".into(),
            "iops".into(),
            "bandwidth_GB_per_s".into(),
            "mean_latency_us".into(),
        ],
        rows,
    })
}

/// `qd` jobs each reading pages back to back: IOPS, bandwidth and mean latency.
fn nvme_row(node: &NodeSpec, page: u64, qd: u32) -> Result<Vec<String>, WiringError> {
    let per_stream = (8192 / qd).max(16);
    let mut ex = Executor::new(FlowNet::new());
    let n = NodeModel::build(node, &mut ex, "")?;
    let c = ex.category("read", OpKind::Storage);
    let server = n.drive_server[0];
    for i in 0..qd {
        let s = ex.add_stream(format!("job{i}"), true, false);
        for _ in 0..per_stream {
            let read = Work::Storage {
                server,
                requests: 1,
                bytes_per_request: page,
            };
            ex.add_op(OpSpec::new(s, c, read))?;
        }
    }
    ex.run()?;
    let t = ex.now();
    let total = per_stream as u64 * qd as u64;
    let iops = total as f64 / t.as_secs_f64();
    let mean_lat = ex
        .timeline()
        .records
        .iter()
        .map(|r| (r.end - r.start).0 as f64)
        .sum::<f64>()
        / total as f64
        / 1e6;
    Ok(vec![
        qd.to_string(),
        format!("{:.0}", iops),
        format!("{:.2}", iops * page as f64 / 1e9),
        format!("{:.1}", mean_lat),
    ])
}

/// What a collective probe asks: sizes (bytes), ranks, and optionally a forced
/// algorithm and protocol (as `NCCL_ALGO` / `NCCL_PROTO`).
#[derive(Clone, Debug)]
pub struct CollectiveProbe {
    pub collective: crate::collective::Collective,
    pub sizes: Vec<u64>,
    pub ranks: u32,
    pub algorithm: Option<crate::collective::Algorithm>,
    pub protocol: Option<crate::collective::Protocol>,
}

/// nccl-tests' default sweep here: 1 KiB to 8 GiB, doubling.
pub fn collective_sizes() -> Vec<u64> {
    (10..=33).map(|s| 1u64 << s).collect()
}

/// A collective by size on `system`, as nccl-tests reports it: time, algorithm and bus
/// bandwidth, and the algorithm and protocol the model picked ([`crate::collective`]).
pub fn collective_table(
    system: &SystemSpec,
    q: &CollectiveProbe,
) -> Result<ProbeTable, crate::collective::CollectiveError> {
    let mut rows = Vec::new();
    let mut path = None;
    for &bytes in &q.sizes {
        let p = crate::collective::predict(
            system,
            q.collective,
            bytes,
            q.ranks,
            q.algorithm,
            q.protocol,
        )?;
        path = Some(p.path);
        rows.push(vec![
            bytes.to_string(),
            format!("{:.3}", p.time_ps as f64 / 1e6),
            format!("{:.2}", p.algbw() / 1e9),
            format!("{:.2}", p.busbw() / 1e9),
            p.algorithm.label().to_string(),
            p.protocol.label().to_string(),
            format!("{:.3}", p.latency_ps as f64 / 1e6),
        ]);
    }
    let over = path.map_or("", |p| p.label());
    let how = match (q.algorithm, q.protocol) {
        (None, None) => "NCCL algorithm and protocol with the least time".to_string(),
        (a, p) => format!(
            "forced {} {}, the fastest of the rest",
            a.map_or("any algorithm", |a| a.label()),
            p.map_or("any protocol", |p| p.label())
        ),
    };
    Ok(ProbeTable {
        title: format!(
            "{}: {} over {} ranks ({over}), {how}",
            system.name,
            q.collective.label(),
            q.ranks
        ),
        columns: [
            "bytes",
            "time_us",
            "algbw_GB_per_s",
            "busbw_GB_per_s",
            "algorithm",
            "protocol",
            "latency_us",
        ]
        .map(String::from)
        .to_vec(),
        rows,
    })
}

/// The op cost model's prediction for one op on GPU 0 of `system`, as one table row:
/// its shape columns, then `time_us`, `tflops` (useful FLOP/s at that time), `bound`
/// (compute, memory or floor), `dtype` (the rate used after fallback) and `hbm_bytes`.
pub fn op_table(
    system: &SystemSpec,
    op: &crate::cost::Op,
) -> Result<ProbeTable, crate::cost::CostError> {
    let r = crate::perf::HwRates::from_system(system);
    let t = op.time(&r)?;
    let (shape_cols, shape) = op.shape_columns();
    let mut columns: Vec<String> = shape_cols.iter().map(|c| c.to_string()).collect();
    columns.extend(["time_us", "tflops", "bound", "dtype", "hbm_bytes"].map(String::from));
    let mut row = shape;
    row.extend([
        format!("{:.3}", t.ps as f64 / 1e6),
        format!("{:.1}", t.flop_rate() / 1e12),
        t.bound.label().to_string(),
        t.dtype.map_or("-", |d| d.label()).to_string(),
        t.bytes.to_string(),
    ]);
    Ok(ProbeTable {
        title: format!(
            "{}: {} on one {} (op cost model, docs/op-cost.md)",
            system.name,
            op.label(),
            system.node.gpu.name
        ),
        columns,
        rows: vec![row],
    })
}
