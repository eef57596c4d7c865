//! `memwall probe --system NAME <kind>`: simulated nvbandwidth and fio on a profile
//! (`h2d`, `d2h`, `d2d`, `gather`, `nvme`, `hbm`), and nccl-tests' collectives from the
//! collective model (`allreduce`, `allgather`, `reducescatter`, `alltoall`), and one
//! kernel's time from the op cost model (`gemm`, `attention`). One subcommand per kind;
//! `--system`, `--csv` and `--profiles` are shared.

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use memwall_models::collective::{Algorithm, Collective, Protocol};
use memwall_models::cost::{Attention, Gemm, Op, Phase};
use memwall_models::perf::Dtype;
use memwall_models::probe::{
    collective_sizes, collective_table, op_table, probe, CollectiveProbe, ProbeKind, ProbeOptions,
    ProbeTable,
};
use memwall_models::{Registry, SystemSpec};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum Kind {
    /// Pinned host to device (copy engine), bandwidth by transfer size.
    H2d,
    /// Device to pinned host (copy engine), bandwidth by transfer size.
    D2h,
    /// Device to device over NVLink, bandwidth by transfer size.
    D2d,
    /// Scattered small rows read from pinned host memory by the GPU, against a bulk copy.
    Gather {
        /// Row size in bytes (Engram V4.1 rows are 264).
        #[arg(long, default_value_t = 264)]
        row_bytes: u64,
    },
    /// NVMe 4 KiB random reads, queue depth 1 to 256.
    Nvme,
    /// HBM device-local copy, bandwidth by transfer size.
    Hbm,
    /// All-reduce by size, as nccl-tests' all_reduce_perf reports it.
    Allreduce(CollectiveArgs),
    /// All-gather by size (size = the gathered output), as all_gather_perf.
    Allgather(CollectiveArgs),
    /// Reduce-scatter by size (size = the input), as reduce_scatter_perf.
    Reducescatter(CollectiveArgs),
    /// All-to-all by size (size = each rank's buffer), as alltoall_perf.
    Alltoall(CollectiveArgs),
    /// One GEMM's time on GPU 0 from the op cost model (tiles, waves, HBM, floor).
    Gemm(GemmArgs),
    /// One fused attention kernel's time on GPU 0 from the op cost model.
    Attention(AttentionArgs),
}

#[derive(Args)]
pub struct GemmArgs {
    /// Rows of A and C (tokens).
    #[arg(long)]
    pub m: u64,
    /// Columns of B and C.
    #[arg(long)]
    pub n: u64,
    /// The reduced dimension.
    #[arg(long)]
    pub k: u64,
    /// Independent products (a batched GEMM).
    #[arg(long, default_value_t = 1)]
    pub batch: u64,
    /// Input dtype: bf16 (or fp16), fp8, fp4, tf32, fp32.
    #[arg(long, default_value = "bf16", value_parser = parse_dtype)]
    pub dtype: Dtype,
}

#[derive(Args)]
pub struct AttentionArgs {
    /// Sequences.
    #[arg(long)]
    pub batch: u64,
    /// New query tokens per sequence (1 for decode).
    #[arg(long)]
    pub q_len: u64,
    /// Keys per sequence (cached plus new).
    #[arg(long)]
    pub kv_len: u64,
    /// Query heads.
    #[arg(long)]
    pub heads: u64,
    /// KV heads (= heads for MHA, fewer for GQA/MQA, 1 for absorbed MLA).
    #[arg(long)]
    pub kv_heads: u64,
    /// Query/key head width (MLA absorbed: latent + rope, e.g. 576).
    #[arg(long)]
    pub head_dim: u64,
    /// Value head width (default: head_dim; MLA absorbed: the latent, e.g. 512).
    #[arg(long)]
    pub v_head_dim: Option<u64>,
    /// prefill (causal, query tiles over the SMs) or decode (split-KV, all keys).
    #[arg(long, value_enum, default_value = "prefill")]
    pub phase: PhaseArg,
    /// Input dtype.
    #[arg(long, default_value = "bf16", value_parser = parse_dtype)]
    pub dtype: Dtype,
}

#[derive(Copy, Clone, ValueEnum)]
pub enum PhaseArg {
    Prefill,
    Decode,
}

fn parse_dtype(s: &str) -> Result<Dtype, String> {
    Dtype::parse(s)
        .ok_or_else(|| format!("unknown dtype {s:?}: one of bf16, fp16, fp8, fp4, tf32, fp32"))
}

#[derive(Args)]
pub struct ProbeArgs {
    /// What to measure.
    #[command(subcommand)]
    pub kind: Kind,
    /// System profile name (see `memwall profiles list`).
    #[arg(long, global = true)]
    pub system: Option<String>,
    /// GPU index within the node.
    #[arg(long, global = true, default_value_t = 0)]
    pub gpu: usize,
    /// Socket holding the host buffer (default: the GPU's own socket).
    #[arg(long, global = true)]
    pub socket: Option<usize>,
    /// Also write the table as CSV to this file (`-` for standard output).
    #[arg(long, global = true, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Extra profile files or folders that extend or override the shipped ones.
    #[arg(long = "profiles", global = true, value_name = "PATH")]
    pub user: Vec<PathBuf>,
}

#[derive(Args)]
pub struct CollectiveArgs {
    /// Message size (`1048576`, `64MiB`, `1 GB`); default: 1 KiB to 8 GiB, doubling.
    #[arg(long, value_parser = parse_size)]
    pub bytes: Option<u64>,
    /// Ranks (GPUs) taking part; default: the GPUs of one node.
    #[arg(long)]
    pub ranks: Option<u32>,
    /// Force an algorithm, as NCCL_ALGO does.
    #[arg(long, value_enum)]
    pub algorithm: Option<AlgorithmArg>,
    /// Force a protocol, as NCCL_PROTO does.
    #[arg(long, value_enum)]
    pub protocol: Option<ProtocolArg>,
}

#[derive(Copy, Clone, ValueEnum)]
pub enum AlgorithmArg {
    Ring,
    Tree,
    Nvls,
    Direct,
}

#[derive(Copy, Clone, ValueEnum)]
pub enum ProtocolArg {
    Ll,
    Ll128,
    Simple,
}

/// A size as a plain number of bytes or with a unit.
fn parse_size(s: &str) -> Result<u64, String> {
    if let Ok(v) = s.trim().parse::<u64>() {
        return Ok(v);
    }
    memwall_models::units::parse_bytes(s).map_err(|e| format!("{} ({})", e.message, e.hint))
}

pub fn run(a: ProbeArgs) -> anyhow::Result<()> {
    let reg = Registry::with_user_paths(&a.user)?;
    let name = a
        .system
        .as_deref()
        .context("--system NAME is required (see `memwall profiles list`)")?;
    let sys = reg.system(name)?;
    let table = match &a.kind {
        Kind::Allreduce(c) => collective(&sys, Collective::AllReduce, c)?,
        Kind::Allgather(c) => collective(&sys, Collective::AllGather, c)?,
        Kind::Reducescatter(c) => collective(&sys, Collective::ReduceScatter, c)?,
        Kind::Alltoall(c) => collective(&sys, Collective::AllToAll, c)?,
        Kind::H2d => memory(&sys, ProbeKind::H2d, &a, 264)?,
        Kind::D2h => memory(&sys, ProbeKind::D2h, &a, 264)?,
        Kind::D2d => memory(&sys, ProbeKind::D2d, &a, 264)?,
        Kind::Gather { row_bytes } => memory(&sys, ProbeKind::Gather, &a, *row_bytes)?,
        Kind::Nvme => memory(&sys, ProbeKind::Nvme, &a, 264)?,
        Kind::Hbm => memory(&sys, ProbeKind::Hbm, &a, 264)?,
        Kind::Gemm(g) => op_table(&sys, &Op::Gemm(gemm(g)))?,
        Kind::Attention(t) => op_table(&sys, &Op::Attention(attention(t)))?,
    };
    let csv = memwall_reports::output::csv_bytes(
        &table.columns.iter().map(String::as_str).collect::<Vec<_>>(),
        table
            .rows
            .iter()
            .map(|r| r.iter().map(String::as_str).collect::<Vec<_>>()),
    );
    match &a.csv {
        Some(p) if p.as_os_str() == "-" => {
            print!("{}", String::from_utf8_lossy(&csv));
            return Ok(());
        }
        Some(p) => memwall_reports::output::write_atomic(p, &csv)?,
        None => {}
    }
    print!("{}", table.to_text());
    Ok(())
}

/// The transfer and storage probes, run on the wired node.
fn memory(
    sys: &SystemSpec,
    kind: ProbeKind,
    a: &ProbeArgs,
    row_bytes: u64,
) -> anyhow::Result<ProbeTable> {
    let opts = ProbeOptions {
        gpu: a.gpu,
        socket: a.socket,
        row_bytes,
    };
    Ok(probe(sys, kind, &opts)?)
}

fn collective(sys: &SystemSpec, c: Collective, a: &CollectiveArgs) -> anyhow::Result<ProbeTable> {
    let q = CollectiveProbe {
        collective: c,
        sizes: a.bytes.map_or_else(collective_sizes, |b| vec![b]),
        ranks: a.ranks.unwrap_or(sys.node.gpus.len() as u32),
        algorithm: a.algorithm.map(|x| match x {
            AlgorithmArg::Ring => Algorithm::Ring,
            AlgorithmArg::Tree => Algorithm::Tree,
            AlgorithmArg::Nvls => Algorithm::Nvls,
            AlgorithmArg::Direct => Algorithm::Direct,
        }),
        protocol: a.protocol.map(|x| match x {
            ProtocolArg::Ll => Protocol::Ll,
            ProtocolArg::Ll128 => Protocol::Ll128,
            ProtocolArg::Simple => Protocol::Simple,
        }),
    };
    Ok(collective_table(sys, &q)?)
}

fn gemm(a: &GemmArgs) -> Gemm {
    Gemm {
        m: a.m,
        n: a.n,
        k: a.k,
        batch: a.batch,
        dtype: a.dtype,
    }
}

fn attention(a: &AttentionArgs) -> Attention {
    let phase = match a.phase {
        PhaseArg::Prefill => Phase::Prefill,
        PhaseArg::Decode => Phase::Decode,
    };
    Attention {
        batch: a.batch,
        q_len: a.q_len,
        kv_len: a.kv_len,
        heads: a.heads,
        kv_heads: a.kv_heads,
        head_dim: a.head_dim,
        v_head_dim: a.v_head_dim.unwrap_or(a.head_dim),
        phase,
        causal: phase == Phase::Prefill,
        dtype: a.dtype,
    }
}
