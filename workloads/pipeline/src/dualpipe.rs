//! DualPipe and DualPipeV op order, generated the way the public reference's `step()`
//! walks its eight phases (deepseek-ai/DualPipe @3da1bbe, `dualpipe.py` / `dualpipev.py`).
//! Written from the algorithm's description; no code copied.
//!
//! Both variants share one per-rank walk. With `H` half-ranks (DualPipe: PP/2;
//! DualPipeV: D devices), `h` the rank's distance from its own end (DualPipe:
//! min(r, PP-1-r); DualPipeV: r) and `n` micro-batches per direction (DualPipe: N/2;
//! DualPipeV: N), the eight phases run, in "relative phase" terms (phase 0 = the
//! direction entering at this rank's end):
//!
//! 1. `2(H-h-1)` x F0
//! 2. `h+1` x (F0, F1)
//! 3. `H-h-1` x (B1 zero-bubble, W, F1)
//! 4. `n-2H+h+1` x (F0&B1, F1&B0); on i = 0 the middle rank(s) run F0 then a plain B1
//! 5. `H-h-1` x (B1, F1&B0)
//! 6. `h+1` x (B1, B0); zero-bubble switches on at i = (h+1)/2, before B1 if h is odd,
//!    after B1 if h is even
//! 7. `H-h-1` x (W, B0 zero-bubble)
//! 8. `h+1` x W
//!
//! W pops the oldest deferred weight gradient (FIFO).

use std::collections::VecDeque;

use super::types::{BackwardMode, Chunk, Direction, OpKind};
use super::ScheduleError;

/// Geometry of one rank's walk.
pub(crate) struct RankWalk {
    /// Whether relative phase 0 is direction B for this rank (second half of DualPipe).
    pub flip: bool,
    /// Model stage run by direction A / B chunks on this rank.
    pub stage_a: u32,
    pub stage_b: u32,
    pub half_ranks: u32,
    pub half_rank: u32,
    pub per_direction: u32,
}

struct Walker<'a> {
    w: &'a RankWalk,
    rank: u32,
    next_f: [u32; 2],
    next_b: [u32; 2],
    deferred: VecDeque<Chunk>,
    ops: Vec<OpKind>,
}

impl Walker<'_> {
    fn direction(&self, phase: usize) -> usize {
        phase ^ usize::from(self.w.flip)
    }

    fn chunk(&self, dir: usize, micro_batch: u32) -> Chunk {
        let (direction, stage) = if dir == 0 {
            (Direction::A, self.w.stage_a)
        } else {
            (Direction::B, self.w.stage_b)
        };
        Chunk {
            direction,
            micro_batch,
            stage,
        }
    }

    fn take_f(&mut self, phase: usize) -> Chunk {
        let d = self.direction(phase);
        let c = self.chunk(d, self.next_f[d]);
        self.next_f[d] += 1;
        c
    }

    fn take_b(&mut self, phase: usize) -> Chunk {
        let d = self.direction(phase);
        let c = self.chunk(d, self.next_b[d]);
        self.next_b[d] += 1;
        c
    }

    fn forward(&mut self, phase: usize) {
        let c = self.take_f(phase);
        self.ops.push(OpKind::Forward(c));
    }

    fn backward(&mut self, phase: usize, zero_bubble: bool) {
        let c = self.take_b(phase);
        let mode = if zero_bubble {
            self.deferred.push_back(c);
            BackwardMode::InputOnly
        } else {
            BackwardMode::Full
        };
        self.ops.push(OpKind::Backward { chunk: c, mode });
    }

    fn weight(&mut self) -> Result<(), ScheduleError> {
        let c = self.deferred.pop_front().ok_or(ScheduleError::Internal {
            rank: self.rank,
            what: "weight-gradient op with no deferred backward",
        })?;
        self.ops.push(OpKind::Weight(c));
        Ok(())
    }

    fn forward_backward(&mut self, phase_f: usize, phase_b: usize) {
        let forward = self.take_f(phase_f);
        let backward = self.take_b(phase_b);
        self.ops.push(OpKind::ForwardBackward { forward, backward });
    }
}

/// Op order of one rank. `rank` is only used in error messages.
pub(crate) fn walk_rank(rank: u32, w: &RankWalk) -> Result<Vec<OpKind>, ScheduleError> {
    let big_h = w.half_ranks;
    let h = w.half_rank;
    let shape = Shape {
        outer: big_h - h - 1,
        inner: h + 1,
        is_middle: h == big_h - 1,
        odd: h % 2 == 1,
        // n - 2H + h + 1 >= 1 because n >= 2H (validated by the caller).
        main: w.per_direction + h + 1 - 2 * big_h,
    };
    let mut k = Walker {
        w,
        rank,
        next_f: [0, 0],
        next_b: [0, 0],
        deferred: VecDeque::new(),
        ops: Vec::with_capacity(6 * w.per_direction as usize),
    };
    k.warmup(&shape)?;
    k.steady(&shape);
    k.cooldown(&shape)?;
    if !k.deferred.is_empty() {
        return Err(ScheduleError::Internal {
            rank,
            what: "deferred weight gradients left at the end of the step",
        });
    }
    Ok(k.ops)
}

/// Phase lengths of one rank's walk (the reference's step counts).
struct Shape {
    /// Ranks beyond this one towards the pipe's end: H - h - 1.
    outer: u32,
    /// h + 1.
    inner: u32,
    /// The rank at the middle of the pipe (h = H - 1).
    is_middle: bool,
    /// h is odd (where zero bubble starts in phase 6).
    odd: bool,
    /// Overlapped steps of phase 4.
    main: u32,
}

impl Walker<'_> {
    /// Phases 1-3: forwards, then backward-weight-forward with zero bubble.
    fn warmup(&mut self, s: &Shape) -> Result<(), ScheduleError> {
        // 1: nF0
        for _ in 0..2 * s.outer {
            self.forward(0);
        }
        // 2: nF0F1
        for _ in 0..s.inner {
            self.forward(0);
            self.forward(1);
        }
        // 3: nB1W1F1, zero bubble
        for _ in 0..s.outer {
            self.backward(1, true);
            self.weight()?;
            self.forward(1);
        }
        Ok(())
    }

    /// Phases 4-5: overlapped forward-backward pairs.
    fn steady(&mut self, s: &Shape) {
        // 4: nF0B1F1B0 (main)
        for i in 0..s.main {
            if i == 0 && s.is_middle {
                // The reference does not overlap these two to shrink the bubble.
                self.forward(0);
                self.backward(1, false);
            } else {
                self.forward_backward(0, 1);
            }
            self.forward_backward(1, 0);
        }
        // 5: nB1F1B0
        for _ in 0..s.outer {
            self.backward(1, false);
            self.forward_backward(1, 0);
        }
    }

    /// Phases 6-8: the remaining backwards (zero bubble from the middle on) and the
    /// deferred weight gradients.
    fn cooldown(&mut self, s: &Shape) -> Result<(), ScheduleError> {
        // 6: nB1B0, zero bubble from the middle on
        let mut zb = false;
        for i in 0..s.inner {
            if i == s.inner / 2 && s.odd {
                zb = true;
            }
            self.backward(1, zb);
            if i == s.inner / 2 && !s.odd {
                zb = true;
            }
            self.backward(0, zb);
        }
        // 7: nWB0, zero bubble
        for _ in 0..s.outer {
            self.weight()?;
            self.backward(0, true);
        }
        // 8: nW
        for _ in 0..s.inner {
            self.weight()?;
        }
        Ok(())
    }
}
