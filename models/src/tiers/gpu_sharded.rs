//! `gpu-sharded`: the table's rows sharded evenly over the fetching GPUs' HBM; each GPU
//! reads its own share from HBM and every other share over NVLink, all at once.

use memwall_sim::{Ps, Work};
use serde::Deserialize;

use super::{Attach, FetchCx, FetchRequest, FetchTier, Fetched, TierError, TierSpec};

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuShardedConfig {}

impl TierSpec for GpuShardedConfig {
    fn name(&self) -> &'static str {
        "gpu-sharded"
    }
    fn hbm_bytes_per_gpu(&self, table_bytes: u64, gpus: usize) -> u64 {
        table_bytes / gpus.max(1) as u64
    }
    fn attach(&self, at: &mut Attach) -> Result<Box<dyn FetchTier>, TierError> {
        if at.gpus > 1 && at.node.gpus[0].nvlink_tx.is_none() {
            return Err(at.system_error(
                "gpu-sharded",
                format!("needs NVLink; {} has none", at.system),
                "use a system with NVLink, one replica, or a host placement",
            ));
        }
        Ok(Box::new(GpuSharded { shards: at.gpus }))
    }
}

struct GpuSharded {
    shards: usize,
}

impl FetchTier for GpuSharded {
    fn fetch(&mut self, cx: &mut FetchCx, req: &FetchRequest) -> Result<Fetched, TierError> {
        let share = req.bytes().div_ceil(self.shards as u64);
        let launch = Ps(cx.node.spec.gpu.kernel_launch_ps);
        let mut flows = Vec::new();
        let mut latency = launch;
        for p in 0..self.shards {
            if p == req.gpu {
                flows.push(memwall_sim::FlowSpec {
                    path: vec![cx.node.hbm(req.gpu)?],
                    bytes: share,
                    rate_cap: None,
                });
            } else {
                let path = cx.node.nvlink(p, req.gpu)?;
                latency = latency.max(launch + path.latency);
                flows.push(path.flow(share));
            }
        }
        let op = cx.add_fetch(Work::Transfer { latency, flows }, req.after.iter().copied())?;
        Ok(Fetched::one(op))
    }
}
