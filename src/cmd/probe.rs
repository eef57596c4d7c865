//! `memwall probe --system NAME <h2d|d2h|d2d|gather|nvme|hbm>`: simulated nvbandwidth
//! and fio on a profile.

use clap::{Args, ValueEnum};
use memwall_models::probe::{probe, ProbeKind, ProbeOptions};
use memwall_models::Registry;
use std::path::PathBuf;

#[derive(Copy, Clone, ValueEnum)]
pub enum Kind {
    /// Pinned host to device (copy engine), bandwidth by transfer size.
    H2d,
    /// Device to pinned host (copy engine), bandwidth by transfer size.
    D2h,
    /// Device to device over NVLink, bandwidth by transfer size.
    D2d,
    /// Scattered small rows read from pinned host memory by the GPU, against a bulk copy.
    Gather,
    /// NVMe 4 KiB random reads, queue depth 1 to 256.
    Nvme,
    /// HBM device-local copy, bandwidth by transfer size.
    Hbm,
}

#[derive(Args)]
pub struct ProbeArgs {
    /// What to measure.
    #[arg(value_enum)]
    pub kind: Kind,
    /// System profile name (see `memwall profiles list`).
    #[arg(long)]
    pub system: String,
    /// GPU index within the node.
    #[arg(long, default_value_t = 0)]
    pub gpu: usize,
    /// Socket holding the host buffer (default: the GPU's own socket).
    #[arg(long)]
    pub socket: Option<usize>,
    /// Row size for `gather`, in bytes (Engram V4.1 rows are 264).
    #[arg(long, default_value_t = 264)]
    pub row_bytes: u64,
    /// Also write the table as CSV to this file (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Extra profile files or folders that extend or override the shipped ones.
    #[arg(long = "profiles", value_name = "PATH")]
    pub user: Vec<PathBuf>,
}

pub fn run(a: ProbeArgs) -> anyhow::Result<()> {
    let reg = Registry::with_user_paths(&a.user)?;
    let sys = reg.system(&a.system)?;
    let kind = match a.kind {
        Kind::H2d => ProbeKind::H2d,
        Kind::D2h => ProbeKind::D2h,
        Kind::D2d => ProbeKind::D2d,
        Kind::Gather => ProbeKind::Gather,
        Kind::Nvme => ProbeKind::Nvme,
        Kind::Hbm => ProbeKind::Hbm,
    };
    let opts = ProbeOptions {
        gpu: a.gpu,
        socket: a.socket,
        row_bytes: a.row_bytes,
    };
    let table = probe(&sys, kind, &opts)?;
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
