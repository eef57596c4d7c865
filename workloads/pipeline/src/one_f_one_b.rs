//! 1F1B and ZB1P (zero-bubble 1F1B, "ZB-H1" of Qi et al., arXiv 2401.10241) op order,
//! for comparison with DualPipe. One pipeline of PP stages; rank r holds stage r.
//!
//! 1F1B on rank r: `min(PP-1-r, N)` warm-up forwards, then (F, B) pairs, then the
//! remaining backwards; every backward is full.
//!
//! ZB1P keeps 1F1B's F/B order but splits every backward into B (input gradient, on the
//! critical path) and W (weight gradient). Rank r keeps up to `r` weight gradients
//! deferred, so its peak of live activations is `(PP-r) + r = PP`, the same peak as
//! rank 0 of 1F1B (README: "Activation per device: PP"); the deferred Ws fill the
//! cool-down bubbles at the end of the step.

use super::types::{BackwardMode, Chunk, Direction, OpKind};

fn chunk(stage: u32, micro_batch: u32) -> Chunk {
    Chunk {
        direction: Direction::A,
        micro_batch,
        stage,
    }
}

/// Op order of rank `rank` of `stages` under 1F1B (`zero_bubble = false`) or ZB1P.
pub(crate) fn walk_rank(
    rank: u32,
    stages: u32,
    micro_batches: u32,
    zero_bubble: bool,
) -> Vec<OpKind> {
    let warmup = (stages - 1 - rank).min(micro_batches);
    let mut ops = Vec::with_capacity(3 * micro_batches as usize);
    let mut next_f = 0u32;
    let mut next_b = 0u32;
    let mut pending_w: std::collections::VecDeque<Chunk> = Default::default();
    let max_deferred = rank as usize;

    let backward =
        |ops: &mut Vec<OpKind>, pending_w: &mut std::collections::VecDeque<Chunk>, b: u32| {
            let c = chunk(rank, b);
            if zero_bubble {
                ops.push(OpKind::Backward {
                    chunk: c,
                    mode: BackwardMode::InputOnly,
                });
                pending_w.push_back(c);
                while pending_w.len() > max_deferred {
                    if let Some(w) = pending_w.pop_front() {
                        ops.push(OpKind::Weight(w));
                    }
                }
            } else {
                ops.push(OpKind::Backward {
                    chunk: c,
                    mode: BackwardMode::Full,
                });
            }
        };

    for _ in 0..warmup {
        ops.push(OpKind::Forward(chunk(rank, next_f)));
        next_f += 1;
    }
    while next_f < micro_batches {
        ops.push(OpKind::Forward(chunk(rank, next_f)));
        next_f += 1;
        backward(&mut ops, &mut pending_w, next_b);
        next_b += 1;
    }
    while next_b < micro_batches {
        backward(&mut ops, &mut pending_w, next_b);
        next_b += 1;
    }
    while let Some(w) = pending_w.pop_front() {
        ops.push(OpKind::Weight(w));
    }
    ops
}
