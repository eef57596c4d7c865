//! Attaches data dependencies to generated op lists.

use std::collections::HashMap;

use super::types::{Chunk, Dependency, DependencyKind, Direction, Op, OpKind, OpRef, ScheduleKind};
use super::ScheduleError;

/// Identity of a chunk's data across ranks: (pipeline, micro-batch, stage). DualPipe
/// has two pipelines (one per direction); the others have one, and DualPipeV's return
/// half continues the outbound micro-batch.
type Key = (u8, u32, u32);

fn key(kind: ScheduleKind, c: &Chunk) -> Key {
    let pipe = match (kind, c.direction) {
        (ScheduleKind::DualPipe, Direction::B) => 1,
        _ => 0,
    };
    (pipe, c.micro_batch, c.stage)
}

pub(crate) fn attach(
    kind: ScheduleKind,
    stages: u32,
    lists: Vec<Vec<OpKind>>,
) -> Result<Vec<Vec<Op>>, ScheduleError> {
    let producers = Producers::new(kind, stages, &lists);
    let mut out = Vec::with_capacity(lists.len());
    for (r, ops) in lists.into_iter().enumerate() {
        let rank = r as u32;
        let rank_ops = ops
            .into_iter()
            .map(|kind_op| {
                Ok(Op {
                    deps: producers.deps_of(rank, &kind_op)?,
                    kind: kind_op,
                })
            })
            .collect::<Result<Vec<_>, ScheduleError>>()?;
        out.push(rank_ops);
    }
    Ok(out)
}

/// Where each chunk's forward and backward run.
struct Producers {
    kind: ScheduleKind,
    last_stage: u32,
    fwd: HashMap<Key, OpRef>,
    bwd: HashMap<Key, OpRef>,
}

impl Producers {
    fn new(kind: ScheduleKind, stages: u32, lists: &[Vec<OpKind>]) -> Self {
        let mut fwd: HashMap<Key, OpRef> = HashMap::new();
        let mut bwd: HashMap<Key, OpRef> = HashMap::new();
        for (r, ops) in lists.iter().enumerate() {
            for (i, op) in ops.iter().enumerate() {
                let at = OpRef {
                    rank: r as u32,
                    index: i as u32,
                };
                if let Some(c) = op.forward_chunk() {
                    fwd.insert(key(kind, &c), at);
                }
                if let Some(c) = op.backward_chunk() {
                    bwd.insert(key(kind, &c), at);
                }
            }
        }
        Producers {
            kind,
            last_stage: stages - 1,
            fwd,
            bwd,
        }
    }

    /// The dependencies of op `kind_op` on `rank`: the previous stage's forward
    /// (activation); for a backward its own forward and the next stage's backward
    /// (gradient); for a deferred W its own backward.
    fn deps_of(&self, rank: u32, kind_op: &OpKind) -> Result<Vec<Dependency>, ScheduleError> {
        let missing = || ScheduleError::Internal {
            rank,
            what: "an op's producer is missing from the schedule",
        };
        let dep = |map: &HashMap<Key, OpRef>, k: Key, kind, chunk| {
            let producer = *map.get(&k).ok_or_else(missing)?;
            Ok(Dependency {
                producer,
                kind,
                chunk,
            })
        };
        let mut deps = Vec::new();
        if let Some(c) = kind_op.forward_chunk() {
            if c.stage > 0 {
                let (p, m, s) = key(self.kind, &c);
                deps.push(dep(
                    &self.fwd,
                    (p, m, s - 1),
                    DependencyKind::Activation,
                    c,
                )?);
            }
        }
        if let Some(c) = kind_op.backward_chunk() {
            let k = key(self.kind, &c);
            deps.push(dep(&self.fwd, k, DependencyKind::OwnForward, c)?);
            if c.stage < self.last_stage {
                let next = (k.0, k.1, k.2 + 1);
                deps.push(dep(&self.bwd, next, DependencyKind::Gradient, c)?);
            }
        }
        if let OpKind::Weight(c) = kind_op {
            let k = key(self.kind, c);
            deps.push(dep(&self.bwd, k, DependencyKind::OwnBackward, *c)?);
        }
        Ok(deps)
    }
}
