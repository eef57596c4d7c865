//! `hbm`: the whole table in every GPU's own HBM; a gather kernel reads the rows
//! (sector-granular, [`gather_wire_bytes`]) and writes them out contiguously, both
//! through that GPU's HBM.

use memwall_sim::{Ps, Work};
use serde::Deserialize;

use super::{Attach, FetchCx, FetchRequest, FetchTier, Fetched, TierError, TierSpec};
use crate::gather::gather_wire_bytes;

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HbmConfig {}

impl TierSpec for HbmConfig {
    fn name(&self) -> &'static str {
        "hbm"
    }
    /// The whole table in every GPU that fetches.
    fn hbm_bytes_per_gpu(&self, table_bytes: u64, _gpus: usize) -> u64 {
        table_bytes
    }
    fn attach(&self, _at: &mut Attach) -> Result<Box<dyn FetchTier>, TierError> {
        Ok(Box::new(Hbm))
    }
}

struct Hbm;

impl FetchTier for Hbm {
    fn fetch(&mut self, cx: &mut FetchCx, req: &FetchRequest) -> Result<Fetched, TierError> {
        let n = req.rows.len();
        let bytes = gather_wire_bytes(req.row_bytes, n).saturating_add(req.bytes());
        let work = Work::flow(
            Ps(cx.node.spec.gpu.kernel_launch_ps),
            vec![cx.node.hbm(req.gpu)?],
            bytes,
            None,
        );
        Ok(Fetched::one(cx.add_fetch(work, req.after.iter().copied())?))
    }
}
