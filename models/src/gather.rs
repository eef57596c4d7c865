//! Scattered small-row reads from pinned host memory issued by the GPU's SMs
//! (zero-copy / unified addressing), as vLLM's default Engram path does.
//!
//! The GPU reads host memory in aligned 64-byte sectors, so a row costs every sector it
//! touches: a 264-byte row laid out at a 264-byte stride always touches 5 sectors
//! (320 bytes on the wire for 264 useful, 82.5%). That is the whole model of the
//! per-transaction cost; the link, the switch uplink and DRAM then share bandwidth like
//! any other flow.
//!
//! Checked against measured UVA gathers (DGL GraphBolt `index_select`, A100 PCIe Gen4,
//! 25 GB/s ceiling; engram_measured.md §4) in the tests below: the model gives 1.6, 10.7,
//! 21.2 and 24.0 GB/s for 4, 47, 353 and 1,412-byte rows, against 1.84, 14.1, 21.3 and
//! 25.6 GB/s measured. It is pessimistic for tiny rows (the GPU coalesces
//! neighbouring requests), and within 6% from 353 bytes up, which covers Engram rows.

use crate::node::{NodeModel, WiringError};
use memwall_sim::{Ps, Work};

/// Granularity of SM-issued reads of host memory (an L2 sector pair; estimate, see
/// the module doc for the calibration).
pub const SECTOR_BYTES: u64 = 64;

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Average wire bytes per row, as a fraction (numerator, denominator), for rows of
/// `row_bytes` stored back to back: the row start offsets modulo the sector size cycle
/// through multiples of gcd(row, sector), and each row touches
/// ceil((offset + row) / sector) sectors.
pub fn wire_bytes_per_row(row_bytes: u64) -> (u64, u64) {
    let step = gcd(row_bytes, SECTOR_BYTES).max(1);
    let n = SECTOR_BYTES / step;
    let sectors: u64 = (0..n)
        .map(|k| (k * step + row_bytes).div_ceil(SECTOR_BYTES))
        .sum();
    (sectors * SECTOR_BYTES, n)
}

/// Wire bytes to gather `rows` rows of `row_bytes` (rounded up).
pub fn gather_wire_bytes(row_bytes: u64, rows: u64) -> u64 {
    let (num, den) = wire_bytes_per_row(row_bytes);
    ((rows as u128 * num as u128).div_ceil(den as u128)).min(u64::MAX as u128) as u64
}

/// A gather op's work and what it moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gather {
    pub work: Work,
    pub payload_bytes: u64,
    pub wire_bytes: u64,
}

/// A zero-copy gather of `rows` rows from host DRAM on `socket` into `gpu`: a kernel
/// launch and one round trip over the host path, then the wire bytes as one flow over
/// DRAM, the cross-socket link if remote, the switch uplink and the GPU's link.
pub fn zero_copy_gather(
    node: &NodeModel,
    socket: usize,
    gpu: usize,
    row_bytes: u64,
    rows: u64,
) -> Result<Gather, WiringError> {
    let resources = node.host_to_gpu_resources(socket, gpu)?;
    let link = &node.spec.gpus[gpu].host_link;
    let dram_lat = Ps(node.spec.host.dram_latency_ps);
    let latency = Ps(node.spec.gpu.kernel_launch_ps)
        + Ps(link.latency_ps)
        + Ps(link.latency_ps)
        + dram_lat
        + node.cross_socket_latency(socket, gpu);
    let wire = gather_wire_bytes(row_bytes, rows);
    Ok(Gather {
        work: Work::flow(latency, resources, wire, None),
        payload_bytes: row_bytes.saturating_mul(rows),
        wire_bytes: wire,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engram_row_touches_5_sectors() {
        // 264 = 8 * 33: offsets cycle through multiples of 8, and 56 + 264 <= 320.
        let (num, den) = wire_bytes_per_row(264);
        assert_eq!((num, den), (40 * 64, 8));
        assert_eq!(gather_wire_bytes(264, 8), 40 * 64);
        // 47-byte rows straddle a sector boundary in 46 of 64 offsets.
        assert_eq!(wire_bytes_per_row(47), ((18 + 46 * 2) * 64, 64));
    }

    #[test]
    fn matches_measured_uva_gathers() {
        // DGL #6635, A100 Gen4, 1M indices (engram_measured.md §4); ceiling 25 GB/s.
        let ceiling = 25.0;
        for (row, measured, tol) in [
            (4u64, 1.84, 0.20),
            (47, 14.1, 0.30),
            (353, 21.3, 0.05),
            (1412, 25.6, 0.07),
        ] {
            let (num, den) = wire_bytes_per_row(row);
            let model = ceiling * row as f64 / (num as f64 / den as f64);
            let err = (model - measured).abs() / measured;
            assert!(
                err <= tol,
                "row {row}: model {model:.2} GB/s vs measured {measured} ({:.0}%)",
                err * 100.0
            );
        }
    }
}
