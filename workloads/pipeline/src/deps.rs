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
    _num_ranks: u32,
    lists: Vec<Vec<OpKind>>,
) -> Result<Vec<Vec<Op>>, ScheduleError> {
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
    let missing = |rank: u32| ScheduleError::Internal {
        rank,
        what: "an op's producer is missing from the schedule",
    };
    let last_stage = stages - 1;
    let mut out = Vec::with_capacity(lists.len());
    for (r, ops) in lists.into_iter().enumerate() {
        let rank = r as u32;
        let mut rank_ops = Vec::with_capacity(ops.len());
        for kind_op in ops {
            let mut deps = Vec::new();
            if let Some(c) = kind_op.forward_chunk() {
                if c.stage > 0 {
                    let (p, m, s) = key(kind, &c);
                    let producer = *fwd.get(&(p, m, s - 1)).ok_or_else(|| missing(rank))?;
                    deps.push(Dependency {
                        producer,
                        kind: DependencyKind::Activation,
                        chunk: c,
                    });
                }
            }
            if let Some(c) = kind_op.backward_chunk() {
                let k = key(kind, &c);
                let producer = *fwd.get(&k).ok_or_else(|| missing(rank))?;
                deps.push(Dependency {
                    producer,
                    kind: DependencyKind::OwnForward,
                    chunk: c,
                });
                if c.stage < last_stage {
                    let producer = *bwd.get(&(k.0, k.1, k.2 + 1)).ok_or_else(|| missing(rank))?;
                    deps.push(Dependency {
                        producer,
                        kind: DependencyKind::Gradient,
                        chunk: c,
                    });
                }
            }
            if let OpKind::Weight(c) = kind_op {
                let producer = *bwd.get(&key(kind, &c)).ok_or_else(|| missing(rank))?;
                deps.push(Dependency {
                    producer,
                    kind: DependencyKind::OwnBackward,
                    chunk: c,
                });
            }
            rank_ops.push(Op {
                kind: kind_op,
                deps,
            });
        }
        out.push(rank_ops);
    }
    Ok(out)
}
