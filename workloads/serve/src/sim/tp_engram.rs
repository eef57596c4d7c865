//! Engram under tensor parallelism: each TP rank fetches its own share of a step's rows.
//!
//! The real integrations shard the Engram tables over the TP ranks rather than fetch once
//! and broadcast: vLLM's DeepSeek-V4.1 host-table offload keeps "47.2 GiB per rank at
//! TP=4" of the 188.8 GiB tables, a wider shard per rank at TP2 (vLLM #57491, #57651), and
//! a four-rank GB10 deployment that stalled on one rank's reads fixed it by striding the
//! hash columns across the TP ranks (sparkring #261); all read through the measured-
//! offload research note (R101). So each rank gathers the rows of its
//! columns (every `tp`-th row id of the step, or `1/tp` of a counted fetch) onto its own
//! GPU, through that GPU's own path (its PCIe switch, its socket's DRAM copy); the layer's
//! module waits for the slowest rank, and its projections, split over the ranks, sum
//! their partial products with one all-reduce (`CostModel::engram_time`).

use memwall_models::tiers::{FetchCategories, FetchCx, FetchRequest, Rows};
use memwall_sim::{OpId, OpSpec, Work};

use super::ServeSim;
use crate::error::ScenarioError;

impl ServeSim<'_> {
    /// GPUs per replica (the engine's tensor-parallel degree).
    pub(super) fn tp(&self) -> usize {
        self.engine
            .as_ref()
            .map_or(1, |g| g.tensor_parallel as usize)
    }

    /// One fetch per TP rank of replica `gi`, each of its share of `rows`, then a marker
    /// when the last lands; (first op, that marker).
    pub(super) fn fetch_per_rank(
        &mut self,
        gi: usize,
        layer: u32,
        rows: Rows,
        row_bytes: u64,
        after: Vec<OpId>,
        reads: &mut Vec<OpId>,
    ) -> Result<(OpId, OpId), ScenarioError> {
        let tp = self.tp();
        let at = (self.step as u32, layer);
        let side = self.gpus[gi].side;
        let mut first = None;
        let mut lasts = Vec::with_capacity(tp);
        let mut share = Vec::new();
        for rank in 0..tp {
            let gpu = self.gpu_of[gi * tp + rank];
            let rows = match rows {
                Rows::Ids(ids) => {
                    share.clear();
                    share.extend(ids.iter().skip(rank).step_by(tp).copied());
                    Rows::Ids(&share)
                }
                Rows::Count(n) => {
                    Rows::Count(n / tp as u64 + u64::from((rank as u64) < n % tp as u64))
                }
            };
            let e = self.engram.as_mut().expect("engram");
            let socket = self.node.spec.gpus[gpu].socket;
            let mut cx = FetchCx {
                ex: &mut self.ex,
                node: &self.node,
                stream: side,
                categories: FetchCategories::default(),
                at,
            };
            let req = FetchRequest {
                gpu,
                host_socket: e.spec.host_socket(socket),
                rows,
                row_bytes,
                after: after.clone(),
            };
            let f = e.tier.fetch(&mut cx, &req)?;
            reads.extend(f.reads);
            first.get_or_insert(f.first);
            lasts.push(f.last);
        }
        let m = OpSpec::new(side, self.cats.fetch, Work::Marker).after(lasts);
        let last = self.add(m.at(at.0, at.1))?;
        Ok((first.unwrap_or(last), last))
    }
}
