//! The prefill pool's side: each finished prefill's KV as transfer ops from its GPUs to
//! a decode replica's (one flow per tensor-parallel rank), layer by layer or whole, and
//! when each landed.

use std::collections::HashMap;
use std::ops::Range;

use memwall_models::node::{NodeModel, Path};
use memwall_sim::{
    CategoryId, Executor, FlowSpec, OpId, OpKind, OpSpec, Ps, StreamId, Timeline, Work,
};

use super::spec::{DisaggSpec, Pools, TransferKind};
use crate::error::ScenarioError;

/// A request whose KV has landed on its decode replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Landed {
    pub id: u64,
    pub arrival: Ps,
    pub prompt: u32,
    /// The request's own output length (the prefill pool served it with one).
    pub output: u32,
    pub scheduled: Ps,
    /// The prefill step that sampled its first token ended (its co-located first token).
    pub ready: Ps,
    /// Its KV has landed and its first token is sampled (the later of the two); the
    /// first transfer op started at `start`.
    pub landed: Ps,
    pub start: Ps,
    pub replica: usize,
}

/// A request as the prefill pool finishes it.
pub(crate) struct Finished {
    pub id: u64,
    pub arrival: Ps,
    pub prompt: u32,
    pub scheduled: Ps,
}

struct Pending {
    req: Landed,
    first: OpId,
    last: OpId,
    fin: OpId,
}

/// What the prefill pool ships, and what has landed.
pub(crate) struct Ship {
    pub(crate) kind: TransferKind,
    pub(crate) layerwise: bool,
    /// KV bytes per token of each layer, on one GPU of a TP group.
    layer_bytes: Vec<u64>,
    prefill: Vec<Vec<usize>>,
    decode: Vec<Vec<usize>>,
    streams: Vec<StreamId>,
    pub(crate) cat: CategoryId,
    outputs: HashMap<u64, u32>,
    pending: Vec<Pending>,
    pub(crate) landed: Vec<Landed>,
    pub(crate) bytes: u128,
    pub(crate) ops: u64,
}

fn groups(gpus: &[usize], tp: usize) -> Vec<Vec<usize>> {
    gpus.chunks(tp).map(|c| c.to_vec()).collect()
}

impl Ship {
    pub fn new(
        ex: &mut Executor,
        spec: &DisaggSpec,
        pools: &Pools,
        tp: usize,
        layer_bytes: Vec<u64>,
    ) -> Ship {
        let prefill = groups(&pools.prefill, tp);
        let streams = (0..prefill.len())
            .map(|i| ex.add_stream(format!("gpu{i}.kv-send"), false, false))
            .collect();
        Ship {
            kind: spec.transfer,
            layerwise: spec.layerwise,
            layer_bytes,
            prefill,
            decode: groups(&pools.decode, tp),
            streams,
            cat: ex.category("kv-transfer", OpKind::Memory),
            outputs: HashMap::new(),
            pending: Vec::new(),
            landed: Vec::new(),
            bytes: 0,
            ops: 0,
        }
    }

    /// Request `id` arrived wanting `output` tokens (the prefill pool serves it one).
    pub fn remember(&mut self, id: u64, output: u32) {
        self.outputs.insert(id, output);
    }

    /// The decode replica of request `id`: round-robin by id.
    fn replica_of(&self, id: u64) -> usize {
        (id % self.decode.len() as u64) as usize
    }

    /// Ships `r`'s KV from prefill replica `gi`: after each of `ready` (a compute op and
    /// the layers it computed) when layerwise, else after `fin`, the step's last op.
    pub fn send(
        &mut self,
        ex: &mut Executor,
        node: &NodeModel,
        (gi, step): (usize, u32),
        r: Finished,
        ready: &[(OpId, Range<u32>)],
        fin: OpId,
    ) -> Result<(), ScenarioError> {
        let d = self.replica_of(r.id);
        let whole = [(fin, 0..self.layer_bytes.len() as u32)];
        let chunks: &[(OpId, Range<u32>)] = if self.layerwise { ready } else { &whole };
        let (mut first, mut last) = (None, fin);
        for (after, layers) in chunks {
            let per_token: u64 = self.layer_bytes[layers.start as usize..layers.end as usize]
                .iter()
                .sum();
            let bytes = per_token * r.prompt as u64;
            let ops = self.chunk(ex, node, (gi, d), bytes, *after, (step, layers.start))?;
            first.get_or_insert(ops.0);
            last = ops.1;
            self.bytes += bytes as u128 * self.prefill[gi].len() as u128;
        }
        let output = self.outputs.remove(&r.id).unwrap_or(1);
        self.pending.push(Pending {
            req: Landed {
                id: r.id,
                arrival: r.arrival,
                prompt: r.prompt,
                output,
                scheduled: r.scheduled,
                ready: Ps::ZERO,
                landed: Ps::ZERO,
                start: Ps::ZERO,
                replica: d,
            },
            first: first.unwrap_or(fin),
            last,
            fin,
        });
        Ok(())
    }

    /// One chunk of `bytes` per rank from prefill replica `p` to decode replica `d`,
    /// after `after`: its first and last op.
    fn chunk(
        &mut self,
        ex: &mut Executor,
        node: &NodeModel,
        (p, d): (usize, usize),
        bytes: u64,
        after: OpId,
        at: (u32, u32),
    ) -> Result<(OpId, OpId), ScenarioError> {
        let pairs: Vec<(usize, usize)> = self.prefill[p]
            .iter()
            .copied()
            .zip(self.decode[d].iter().copied())
            .collect();
        let stages = stages(self.kind, node, &pairs)?;
        let mut prev = after;
        let mut first = None;
        for (latency, paths) in stages {
            let flows = paths
                .into_iter()
                .map(|path| FlowSpec {
                    path,
                    bytes,
                    rate_cap: None,
                })
                .collect();
            let o = OpSpec::new(self.streams[p], self.cat, Work::Transfer { latency, flows })
                .after([prev])
                .at(at.0, at.1);
            prev = ex.add_op(o)?;
            first.get_or_insert(prev);
            self.ops += 1;
        }
        Ok((first.unwrap_or(prev), prev))
    }

    /// After a step has run: when each pending request's prefill ended, and which have
    /// landed.
    pub fn poll(&mut self, tl: &Timeline) {
        let mut i = 0;
        while i < self.pending.len() {
            let p = &mut self.pending[i];
            if p.req.ready == Ps::ZERO {
                p.req.ready = tl
                    .get(p.fin)
                    .filter(|r| r.finished())
                    .map_or(Ps::ZERO, |r| r.end);
            }
            let done = tl.get(p.last).filter(|r| r.finished()).map(|r| r.end);
            let start = tl.get(p.first).map(|r| r.start);
            match (done, start) {
                (Some(end), Some(start)) => {
                    let mut req = self.pending.swap_remove(i).req;
                    // The first token leaves with the KV: not before it is sampled.
                    req.landed = end.max(req.ready);
                    req.start = start;
                    self.landed.push(req);
                }
                _ => i += 1,
            }
        }
    }

    /// The oldest op a pending transfer still needs in the timeline.
    pub fn keep_from(&self) -> Option<OpId> {
        self.pending.iter().map(|p| p.first.min(p.fin)).min()
    }

    pub fn is_idle(&self) -> bool {
        self.pending.is_empty()
    }
}

/// One stage of a transfer: its latency and one path per rank pair.
type Stage = (Ps, Vec<Vec<memwall_sim::ResourceId>>);

/// The stages of one transfer between rank pairs `(prefill GPU, decode GPU)`: each
/// stage's latency and one path per pair.
fn stages(
    kind: TransferKind,
    node: &NodeModel,
    pairs: &[(usize, usize)],
) -> Result<Vec<Stage>, ScenarioError> {
    let wiring = |e: memwall_models::node::WiringError| ScenarioError::Wiring {
        system: node.spec.gpu.name.clone(),
        message: e.to_string(),
    };
    let stage =
        |f: &dyn Fn(usize, usize) -> Result<Path, ScenarioError>| -> Result<Stage, ScenarioError> {
            let mut lat = Ps::ZERO;
            let mut paths = Vec::new();
            for &(a, b) in pairs {
                let p = f(a, b)?;
                lat = lat.max(p.latency);
                paths.push(p.resources);
            }
            Ok((lat, paths))
        };
    Ok(match kind {
        TransferKind::Nvlink => vec![stage(&|a, b| node.nvlink(a, b).map_err(wiring))?],
        TransferKind::Rdma => vec![stage(&|a, b| rdma(node, a, b))?],
        TransferKind::Host => {
            let sock = |a: usize| node.spec.gpus[a].socket;
            vec![
                stage(&|a, _| node.d2h_copy(a, sock(a)).map_err(wiring))?,
                stage(&|a, b| node.h2d_copy(sock(a), b).map_err(wiring))?,
            ]
        }
    })
}

/// GPUDirect RDMA from GPU `a` to GPU `b`: `a`'s port out, its first NIC's transmit, the
/// receiving NIC's receive, `b`'s port in; the NIC's latency.
fn rdma(node: &NodeModel, a: usize, b: usize) -> Result<Path, ScenarioError> {
    let nic = |g: usize| {
        node.spec.gpus[g]
            .nics
            .first()
            .copied()
            .ok_or_else(|| ScenarioError::Wiring {
                system: node.spec.gpu.name.clone(),
                message: format!("GPU {g} has no NIC for RDMA"),
            })
    };
    let (na, nb) = (nic(a)?, nic(b)?);
    let latency = node.spec.nic.as_ref().map_or(0, |n| n.latency_ps);
    Ok(Path {
        resources: vec![
            node.gpus[a].link_d2h,
            node.nic_tx[na],
            node.nic_rx[nb],
            node.gpus[b].link_h2d,
        ],
        latency: Ps(latency),
    })
}
