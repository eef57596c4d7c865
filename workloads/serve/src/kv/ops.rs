//! KV-cache traffic as kernel ops: reloads and prefetches (host DRAM or NVMe to the
//! GPUs of a replica) and offloads (HBM to host DRAM, host DRAM to NVMe), each a flow
//! over the node's resources, so they share PCIe, C2C, DRAM and drives with every other
//! tenant by max-min fairness. A replica's block is split over its tensor-parallel GPUs:
//! each GPU moves its shard over its own link, in one op.

use memwall_models::node::NodeModel;
use memwall_sim::{CategoryId, Executor, FlowSpec, OpId, OpKind, OpSpec, StreamId, Work};

use super::cache::{Hits, Moves};
use crate::error::ScenarioError;

/// Category names of the KV-cache tenant's ops.
pub const RELOAD: &str = "kv-reload";
pub const PREFETCH: &str = "kv-prefetch";
pub const OFFLOAD: &str = "kv-offload";

pub(crate) struct KvOps {
    pub reload: CategoryId,
    pub prefetch: CategoryId,
    pub offload: CategoryId,
    wait: CategoryId,
    /// Per replica: its copy stream and its GPUs (the tensor-parallel group).
    streams: Vec<StreamId>,
    groups: Vec<Vec<usize>>,
    /// Bytes of one cached block on one GPU.
    unit_bytes: u64,
    /// Next drive to stripe a block onto.
    next_drive: usize,
}

/// Where an op goes: after what, at which step.
pub(crate) struct At {
    pub after: Vec<OpId>,
    pub step: u32,
}

impl KvOps {
    pub fn new(ex: &mut Executor, groups: Vec<Vec<usize>>, unit_bytes: u64) -> KvOps {
        let reload = ex.category(RELOAD, OpKind::Memory);
        let prefetch = ex.category(PREFETCH, OpKind::Memory);
        let offload = ex.category(OFFLOAD, OpKind::Memory);
        let wait = ex.category("kv-wait", OpKind::Marker);
        let streams = (0..groups.len())
            .map(|i| ex.add_stream(format!("gpu{i}.kv"), false, false))
            .collect();
        KvOps {
            reload,
            prefetch,
            offload,
            wait,
            streams,
            groups,
            unit_bytes,
            next_drive: 0,
        }
    }

    /// A marker on `compute` after `deps`: the GPU waits for them.
    pub fn wait(
        &self,
        ex: &mut Executor,
        compute: StreamId,
        deps: Vec<OpId>,
        step: u32,
    ) -> Result<OpId, ScenarioError> {
        Ok(ex.add_op(
            OpSpec::new(compute, self.wait, Work::Marker)
                .after(deps)
                .at(step, 0),
        )?)
    }

    /// Blocks per drive for `n` blocks striped round-robin over `drives`.
    fn stripe(&mut self, n: u64, drives: usize) -> Vec<u64> {
        let mut per = vec![0u64; drives];
        for _ in 0..n {
            per[self.next_drive % drives] += 1;
            self.next_drive = (self.next_drive + 1) % drives;
        }
        per
    }

    /// Replica `gi`'s host-DRAM socket (its first GPU's).
    fn socket(&self, node: &NodeModel, gi: usize) -> usize {
        node.spec.gpus[self.groups[gi][0]].socket
    }

    /// Brings `hits.host + hits.nvme` blocks to replica `gi`'s GPUs: NVMe blocks are
    /// read into host DRAM first (drive, switch uplink, DRAM), then everything crosses
    /// DRAM and the host links. The op that lands them, if any.
    pub fn reload(
        &mut self,
        ex: &mut Executor,
        node: &NodeModel,
        gi: usize,
        cat: CategoryId,
        hits: Hits,
        at: At,
    ) -> Result<Option<OpId>, ScenarioError> {
        let n = hits.host + hits.nvme;
        if n == 0 {
            return Ok(None);
        }
        let (socket, stream, tp) = (
            self.socket(node, gi),
            self.streams[gi],
            self.groups[gi].len(),
        );
        let block = self.unit_bytes * tp as u64;
        let mut after = at.after.clone();
        let per = self.stripe(hits.nvme, node.drive_server.len().max(1));
        for (d, &k) in per.iter().enumerate().filter(|(_, &k)| k > 0) {
            let read = Work::Storage {
                server: node.drive_server[d],
                requests: k as u32,
                bytes_per_request: block,
            };
            let rd = ex.add_op(
                OpSpec::new(stream, cat, read)
                    .after(at.after.clone())
                    .at(at.step, 0),
            )?;
            let bus = node.drive_to_host(d, socket).map_err(wiring)?;
            let xfer = bus.transfer(k * block);
            after.push(ex.add_op(OpSpec::new(stream, cat, xfer).after([rd]).at(at.step, 0))?);
        }
        let mut flows = Vec::new();
        let mut latency = memwall_sim::Ps::ZERO;
        for &g in &self.groups[gi] {
            let p = node.h2d_copy(socket, g).map_err(wiring)?;
            latency = latency.max(p.latency);
            flows.push(p.flow(n * self.unit_bytes));
        }
        let w = Work::Transfer { latency, flows };
        Ok(Some(ex.add_op(
            OpSpec::new(stream, cat, w).after(after).at(at.step, 0),
        )?))
    }

    /// Writes replica `gi`'s evicted blocks down: HBM to host DRAM, host DRAM to NVMe.
    pub fn offload(
        &mut self,
        ex: &mut Executor,
        node: &NodeModel,
        gi: usize,
        moves: Moves,
        at: At,
    ) -> Result<Vec<OpId>, ScenarioError> {
        let (socket, stream) = (self.socket(node, gi), self.streams[gi]);
        let mut out = Vec::new();
        if moves.offload > 0 {
            let mut flows: Vec<FlowSpec> = Vec::new();
            let mut latency = memwall_sim::Ps::ZERO;
            for &g in &self.groups[gi] {
                let p = node.d2h_copy(g, socket).map_err(wiring)?;
                latency = latency.max(p.latency);
                flows.push(p.flow(moves.offload * self.unit_bytes));
            }
            let w = Work::Transfer { latency, flows };
            out.push(
                ex.add_op(
                    OpSpec::new(stream, self.offload, w)
                        .after(at.after.clone())
                        .at(at.step, 0),
                )?,
            );
        }
        let block = self.unit_bytes * self.groups[gi].len() as u64;
        let per = self.stripe(moves.to_nvme, node.drive_server.len().max(1));
        for (d, &k) in per.iter().enumerate().filter(|(_, &k)| k > 0) {
            let path = host_to_drive(node, socket, d);
            let xfer = Work::flow(memwall_sim::Ps::ZERO, path, k * block, None);
            let bus = ex.add_op(
                OpSpec::new(stream, self.offload, xfer)
                    .after(at.after.clone())
                    .at(at.step, 0),
            )?;
            let write = Work::Storage {
                server: node.drive_server[d],
                requests: k as u32,
                bytes_per_request: block,
            };
            out.push(
                ex.add_op(
                    OpSpec::new(stream, self.offload, write)
                        .after([bus])
                        .at(at.step, 0),
                )?,
            );
        }
        Ok(out)
    }
}

/// Host DRAM on `socket` down to drive `d`: DRAM, the socket link when the drive's
/// switch hangs off the other socket, the switch's downlink and the drive's link.
fn host_to_drive(node: &NodeModel, socket: usize, d: usize) -> Vec<memwall_sim::ResourceId> {
    let sw = node.spec.drives[d].switch;
    let mut r = vec![node.dram[socket]];
    let to = node.spec.switches[sw].socket;
    if to != socket {
        r.extend(node.xsocket[socket][to]);
    }
    r.push(node.uplink_down[sw]);
    r.push(node.drive_link[d]);
    r
}

fn wiring(e: memwall_models::node::WiringError) -> ScenarioError {
    ScenarioError::Wiring {
        system: "the KV-cache tiers".into(),
        message: e.to_string(),
    }
}
