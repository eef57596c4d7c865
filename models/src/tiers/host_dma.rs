//! `host-dma`: pinned host DRAM gathered by CPU threads into a staging buffer (one CPU
//! gather stream per socket), then one DMA copy to the GPU.

use memwall_sim::{OpKind, Ps, StreamId, Work, PS_PER_SEC};
use serde::Deserialize;

use super::{Attach, FetchCx, FetchRequest, FetchTier, Fetched, FieldSource, TierError, TierSpec};
use crate::units::{parse_byte_rate, parse_time_ps};

/// CPU gather rate and per-row cost (estimates unless measured).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostDmaConfig {
    /// Default 20 GB/s.
    pub cpu_gather_bandwidth: Option<String>,
    /// Default 20 ns.
    pub cpu_gather_per_row: Option<String>,
}

impl HostDmaConfig {
    fn resolve(&self, src: &FieldSource) -> Result<(u64, Ps), TierError> {
        let bw = match &self.cpu_gather_bandwidth {
            Some(v) => src.quantity("cpu_gather_bandwidth", v, parse_byte_rate)?,
            None => 20_000_000_000,
        };
        let per_row = match &self.cpu_gather_per_row {
            Some(v) => src.quantity("cpu_gather_per_row", v, parse_time_ps)?,
            None => 20_000,
        };
        Ok((bw, Ps(per_row)))
    }
}

impl TierSpec for HostDmaConfig {
    fn name(&self) -> &'static str {
        "host-dma"
    }
    fn check(&self, src: &FieldSource) -> Result<(), TierError> {
        self.resolve(src).map(|_| ())
    }
    fn host_dram_bytes(&self, table_bytes: u64) -> u64 {
        table_bytes
    }
    fn attach(&self, at: &mut Attach) -> Result<Box<dyn FetchTier>, TierError> {
        let (bandwidth, per_row) = self.resolve(at.src)?;
        let cpu = (0..at.node.dram.len().max(1))
            .map(|k| at.ex.add_stream(format!("cpu{k}.gather"), false, false))
            .collect();
        Ok(Box::new(HostDma {
            bandwidth,
            per_row,
            cpu,
        }))
    }
}

struct HostDma {
    bandwidth: u64,
    per_row: Ps,
    /// One CPU gather stream per socket.
    cpu: Vec<StreamId>,
}

impl FetchTier for HostDma {
    fn fetch(&mut self, cx: &mut FetchCx, req: &FetchRequest) -> Result<Fetched, TierError> {
        let n = req.rows.len();
        let bytes = req.bytes();
        let t = Ps((bytes as u128 * PS_PER_SEC as u128 / self.bandwidth.max(1) as u128) as u64)
            + Ps(self.per_row.0 * n);
        let stream = self.cpu[req.host_socket % self.cpu.len()];
        let cat = (cx.categories.cpu_gather, OpKind::Host);
        let gather = cx.add(stream, cat, Work::Delay(t), req.after.iter().copied())?;
        let path = cx.node.h2d_copy(req.host_socket, req.gpu)?;
        let copy = cx.add_fetch(path.transfer(bytes), [gather])?;
        Ok(Fetched {
            first: gather,
            last: copy,
            reads: Vec::new(),
        })
    }
}
