//! `cxl`: a CXL memory pool behind the host, read like host memory (a zero-copy gather)
//! but through the pool's own bandwidth and with its extra latency.

use memwall_sim::{Ps, ResourceId, Work};
use serde::Deserialize;

use super::{Attach, FetchCx, FetchRequest, FetchTier, Fetched, FieldSource, TierError, TierSpec};
use crate::gather::zero_copy_gather;
use crate::units::{parse_byte_rate, parse_time_ps};

/// Pool bandwidth and extra latency over local DRAM (estimates unless sourced).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CxlConfig {
    /// Default 50 GB/s.
    pub cxl_bandwidth: Option<String>,
    /// Default 250 ns.
    pub cxl_latency: Option<String>,
}

impl CxlConfig {
    fn resolve(&self, src: &FieldSource) -> Result<(u64, Ps), TierError> {
        let bw = match &self.cxl_bandwidth {
            Some(v) => src.quantity("cxl_bandwidth", v, parse_byte_rate)?,
            None => 50_000_000_000,
        };
        let lat = match &self.cxl_latency {
            Some(v) => src.quantity("cxl_latency", v, parse_time_ps)?,
            None => 250_000,
        };
        Ok((bw, Ps(lat)))
    }
}

impl TierSpec for CxlConfig {
    fn name(&self) -> &'static str {
        "cxl"
    }
    fn check(&self, src: &FieldSource) -> Result<(), TierError> {
        self.resolve(src).map(|_| ())
    }
    fn attach(&self, at: &mut Attach) -> Result<Box<dyn FetchTier>, TierError> {
        let (bw, latency) = self.resolve(at.src)?;
        let pool = at
            .ex
            .net_mut()
            .add_resource("cxl-pool", bw)
            .map_err(|e| TierError::Sim(e.into()))?;
        Ok(Box::new(Cxl { pool, latency }))
    }
}

struct Cxl {
    pool: ResourceId,
    latency: Ps,
}

impl FetchTier for Cxl {
    fn fetch(&mut self, cx: &mut FetchCx, req: &FetchRequest) -> Result<Fetched, TierError> {
        let mut g = zero_copy_gather(
            cx.node,
            req.host_socket,
            req.gpu,
            req.row_bytes,
            req.rows.len(),
        )?;
        if let Work::Transfer { latency, flows } = &mut g.work {
            *latency += self.latency;
            for f in flows.iter_mut() {
                f.path[0] = self.pool;
            }
        }
        Ok(Fetched::one(
            cx.add_fetch(g.work, req.after.iter().copied())?,
        ))
    }
}
