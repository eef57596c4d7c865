//! `host-zero-copy` (also `host-dram`, `host`): pinned host DRAM read by the GPU's SMs
//! (zero-copy / UVA), vLLM's default: one gather over the host link
//! ([`zero_copy_gather`]).

use serde::Deserialize;

use super::{Attach, FetchCx, FetchRequest, FetchTier, Fetched, TierError, TierSpec};
use crate::gather::zero_copy_gather;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostZeroCopyConfig {}

impl TierSpec for HostZeroCopyConfig {
    fn name(&self) -> &'static str {
        "host-zero-copy"
    }
    fn host_dram_bytes(&self, table_bytes: u64) -> u64 {
        table_bytes
    }
    fn attach(&self, _at: &mut Attach) -> Result<Box<dyn FetchTier>, TierError> {
        Ok(Box::new(HostZeroCopy))
    }
}

struct HostZeroCopy;

impl FetchTier for HostZeroCopy {
    fn fetch(&mut self, cx: &mut FetchCx, req: &FetchRequest) -> Result<Fetched, TierError> {
        let g = zero_copy_gather(
            cx.node,
            req.host_socket,
            req.gpu,
            req.row_bytes,
            req.rows.len(),
        )?;
        Ok(Fetched::one(
            cx.add_fetch(g.work, req.after.iter().copied())?,
        ))
    }
}
