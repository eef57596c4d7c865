//! Pipeline-parallel schedules as data: per-rank ordered op lists plus the data
//! dependencies between ops, for the discrete-event executor to run. Knows nothing of
//! time, hardware or models: costs and execution belong to `memwall-train`. Entry point:
//! [`Schedule::generate`].
//!
//! - [`Schedule::generate`] builds DualPipe, DualPipeV, 1F1B or ZB1P.
//! - Each rank's ops run in list order on that rank's compute stream (program order is
//!   implicit); each [`Op`] lists the ops on any rank whose output it needs
//!   ([`Dependency`]): activation P2P forward, gradient P2P backward, its own forward
//!   (backward), its own backward (deferred W).
//! - [`analytic`] is a tiny list scheduler with per-kind costs, a cross-check for the
//!   README bubble formulas in the equal-cost case, not a simulator.
//!
//! ```
//! use memwall_pipeline::{Schedule, ScheduleKind};
//!
//! let s = Schedule::generate(ScheduleKind::DualPipe, 4, 8).unwrap();
//! assert_eq!(s.num_ranks, 4);
//! // Each rank holds two stages (one per direction) and sees every micro-batch once:
//! // 8 forward and 8 backward chunks per rank, some of them fused into F&B pairs.
//! for ops in &s.ranks {
//!     assert_eq!(ops.iter().filter(|o| o.kind.forward_chunk().is_some()).count(), 8);
//!     assert_eq!(ops.iter().filter(|o| o.kind.backward_chunk().is_some()).count(), 8);
//! }
//! // DualPipe keeps PP+1 activations in flight on every rank.
//! assert_eq!(s.peak_in_flight_activations(), vec![5; 4]);
//! ```

pub mod analytic;
mod deps;
mod dualpipe;
mod one_f_one_b;
mod types;

pub use types::{
    reference_label, BackwardMode, Chunk, Dependency, DependencyKind, Direction, Op, OpKind, OpRef,
    ScheduleKind,
};

use serde::Serialize;
use thiserror::Error;

/// Largest accepted rank count and micro-batch count: keeps op lists (about 3N ops per
/// rank) to a sane size and all indices inside u32.
pub const MAX_RANKS: u32 = 4096;
pub const MAX_MICRO_BATCHES: u32 = 1 << 20;

/// Why a schedule cannot be generated.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ScheduleError {
    #[error("{kind}: the number of pipeline stages must be even (DualPipe pairs stage r with stage PP-1-r), got PP={stages}")]
    OddStages { kind: ScheduleKind, stages: u32 },
    #[error("{kind}: needs at least {min} {what}, got {got}")]
    TooFew {
        kind: ScheduleKind,
        what: &'static str,
        min: u32,
        got: u32,
    },
    #[error("{kind}: the number of micro-batches must be even (half enter at each end), got N={micro_batches}")]
    OddMicroBatches {
        kind: ScheduleKind,
        micro_batches: u32,
    },
    #[error("{kind}: needs N >= 2 x {unit} = {min} micro-batches (the reference's num_chunks >= 2*num_ranks), got N={got}")]
    TooFewMicroBatches {
        kind: ScheduleKind,
        unit: &'static str,
        min: u32,
        got: u32,
    },
    #[error("{kind}: {what} = {got} exceeds the supported maximum {max}")]
    TooLarge {
        kind: ScheduleKind,
        what: &'static str,
        max: u32,
        got: u32,
    },
    #[error("internal schedule error on rank {rank}: {what}")]
    Internal { rank: u32, what: &'static str },
}

/// A generated pipeline schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Schedule {
    pub kind: ScheduleKind,
    /// Number of ranks (devices) that run the schedule: PP, or PP/2 for DualPipeV.
    pub num_ranks: u32,
    /// Number of model stages (PP). Rank r holds stages r and PP-1-r in DualPipe(V).
    pub num_stages: u32,
    /// Micro-batches per step as the reference's `num_chunks` counts them: for DualPipe
    /// the total over both directions (N/2 each); for DualPipeV, 1F1B and ZB1P the
    /// number of micro-batches, each running every stage.
    pub num_micro_batches: u32,
    /// `ranks[r]` is rank r's ordered op list.
    pub ranks: Vec<Vec<Op>>,
}

/// PP and N within the sizes a schedule may have.
fn check_size(kind: ScheduleKind, stages: u32, micro_batches: u32) -> Result<(), ScheduleError> {
    if stages > 2 * MAX_RANKS {
        return Err(ScheduleError::TooLarge {
            kind,
            what: "PP",
            max: 2 * MAX_RANKS,
            got: stages,
        });
    }
    if micro_batches > MAX_MICRO_BATCHES {
        return Err(ScheduleError::TooLarge {
            kind,
            what: "N",
            max: MAX_MICRO_BATCHES,
            got: micro_batches,
        });
    }
    Ok(())
}

/// DualPipe (PP ranks, each holding stage r and its mirror PP-1-r, chunks flowing both
/// ways) or DualPipeV (PP/2 devices, each holding stages r and PP-1-r of one V): the
/// number of ranks and each rank's op list.
fn dualpipe_lists(
    kind: ScheduleKind,
    stages: u32,
    micro_batches: u32,
) -> Result<(u32, Vec<Vec<OpKind>>), ScheduleError> {
    if stages < 2 {
        return Err(ScheduleError::TooFew {
            kind,
            what: "pipeline stages",
            min: 2,
            got: stages,
        });
    }
    if stages % 2 == 1 {
        return Err(ScheduleError::OddStages { kind, stages });
    }
    let v = kind == ScheduleKind::DualPipeV;
    let num_ranks = if v { stages / 2 } else { stages };
    if !v && micro_batches % 2 == 1 {
        return Err(ScheduleError::OddMicroBatches {
            kind,
            micro_batches,
        });
    }
    if micro_batches < 2 * num_ranks {
        return Err(ScheduleError::TooFewMicroBatches {
            kind,
            unit: if v { "devices (PP/2)" } else { "ranks (PP)" },
            min: 2 * num_ranks,
            got: micro_batches,
        });
    }
    let half_ranks = if v { num_ranks } else { num_ranks / 2 };
    let per_direction = if v { micro_batches } else { micro_batches / 2 };
    let mut lists = Vec::with_capacity(num_ranks as usize);
    for r in 0..num_ranks {
        let walk = dualpipe::RankWalk {
            flip: !v && r >= half_ranks,
            stage_a: r,
            stage_b: stages - 1 - r,
            half_ranks,
            half_rank: if v { r } else { r.min(num_ranks - 1 - r) },
            per_direction,
        };
        lists.push(dualpipe::walk_rank(r, &walk)?);
    }
    Ok((num_ranks, lists))
}

/// 1F1B or ZB1P (W deferred): one rank per stage, and each rank's op list.
fn one_f_one_b_lists(
    kind: ScheduleKind,
    stages: u32,
    micro_batches: u32,
) -> Result<(u32, Vec<Vec<OpKind>>), ScheduleError> {
    if stages < 1 {
        return Err(ScheduleError::TooFew {
            kind,
            what: "pipeline stages",
            min: 1,
            got: stages,
        });
    }
    if micro_batches < 1 {
        return Err(ScheduleError::TooFew {
            kind,
            what: "micro-batches",
            min: 1,
            got: micro_batches,
        });
    }
    let zb = kind == ScheduleKind::Zb1p;
    let lists = (0..stages)
        .map(|r| one_f_one_b::walk_rank(r, stages, micro_batches, zb))
        .collect();
    Ok((stages, lists))
}

impl Schedule {
    /// Builds a schedule.
    ///
    /// `stages` is PP, the number of model stages, for every kind (DualPipeV then runs on
    /// PP/2 devices). `micro_batches` is the reference's `num_chunks`.
    ///
    /// Rules (each refused with an error that names it):
    /// - DualPipe: PP even and >= 2; N even; N >= 2*PP.
    /// - DualPipeV: PP even and >= 2; N >= 2*(PP/2) = PP (the reference: num_chunks >=
    ///   2*num_ranks).
    /// - 1F1B, ZB1P: PP >= 1; N >= 1.
    pub fn generate(
        kind: ScheduleKind,
        stages: u32,
        micro_batches: u32,
    ) -> Result<Schedule, ScheduleError> {
        check_size(kind, stages, micro_batches)?;
        let (num_ranks, op_lists) = match kind {
            ScheduleKind::DualPipe | ScheduleKind::DualPipeV => {
                dualpipe_lists(kind, stages, micro_batches)?
            }
            ScheduleKind::OneFOneB | ScheduleKind::Zb1p => {
                one_f_one_b_lists(kind, stages, micro_batches)?
            }
        };
        let ranks = deps::attach(kind, stages, op_lists)?;
        Ok(Schedule {
            kind,
            num_ranks,
            num_stages: stages,
            num_micro_batches: micro_batches,
            ranks,
        })
    }

    /// Rank that runs `stage` for chunks of `direction`.
    pub fn rank_of(&self, direction: Direction, stage: u32) -> u32 {
        rank_of(self.kind, self.num_stages, self.num_ranks, direction, stage)
    }

    /// The rank's op list in the reference listing's notation, space separated.
    pub fn reference_line(&self, rank: u32) -> String {
        self.ranks
            .get(rank as usize)
            .map(|ops| {
                ops.iter()
                    .map(|o| reference_label(&o.kind))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    }

    /// Peak number of chunks whose forward has run and whose backward (input gradient)
    /// has not, on each rank; inside an overlapped F&B pair the forward counts before the
    /// backward releases. DualPipe and DualPipeV reach PP+1 on every rank.
    pub fn peak_in_flight_activations(&self) -> Vec<u32> {
        self.ranks
            .iter()
            .map(|ops| {
                let (mut live, mut peak) = (0i64, 0i64);
                for op in ops {
                    if op.kind.forward_chunk().is_some() {
                        live += 1;
                        peak = peak.max(live);
                    }
                    if op.kind.backward_chunk().is_some() {
                        live -= 1;
                    }
                }
                peak.max(0) as u32
            })
            .collect()
    }

    /// Total number of ops over all ranks.
    pub fn op_count(&self) -> usize {
        self.ranks.iter().map(Vec::len).sum()
    }
}

/// Stage-to-rank placement of each schedule.
pub(crate) fn rank_of(
    kind: ScheduleKind,
    stages: u32,
    num_ranks: u32,
    direction: Direction,
    stage: u32,
) -> u32 {
    match kind {
        ScheduleKind::OneFOneB | ScheduleKind::Zb1p => stage,
        ScheduleKind::DualPipe => match direction {
            Direction::A => stage,
            Direction::B => stages - 1 - stage,
        },
        ScheduleKind::DualPipeV => {
            if stage < num_ranks {
                stage
            } else {
                stages - 1 - stage
            }
        }
    }
}
