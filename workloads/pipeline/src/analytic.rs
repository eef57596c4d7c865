//! A minimal list scheduler for schedules: every rank runs its ops in order, each op
//! starts when the previous op on its rank and all its dependencies have ended, and
//! costs a fixed number of abstract time units per kind. No resources, no contention:
//! it exists to cross-check the README bubble formulas and the dependency structure,
//! not to replace the discrete-event simulation.

use serde::Serialize;
use thiserror::Error;

use super::types::{BackwardMode, Op, OpKind};
use super::Schedule;

/// Cost of each op kind, in any integer time unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct OpCosts {
    /// `F`: one forward chunk.
    pub forward: u64,
    /// `B`: one full backward chunk (input + weight gradient).
    pub backward_full: u64,
    /// `W`: the weight-gradient part of a backward; an input-only backward costs `B - W`.
    pub weight: u64,
    /// `F&B`: an overlapped forward-backward pair.
    pub forward_backward: u64,
    /// Latency added to every dependency that crosses ranks (a P2P message).
    pub p2p_latency: u64,
}

/// Why the list scheduler could not finish.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AnalyticError {
    #[error("weight cost W={weight} exceeds full backward cost B={backward}")]
    WeightExceedsBackward { weight: u64, backward: u64 },
    #[error("schedule deadlocks: no rank can start its next op (rank {rank} stuck at op {index})")]
    Deadlock { rank: u32, index: u32 },
    #[error("time overflow in the list scheduler")]
    Overflow,
}

/// Start and end time of every op, and per-rank totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AnalyticRun {
    pub start: Vec<Vec<u64>>,
    pub end: Vec<Vec<u64>>,
    /// End of the last op over all ranks.
    pub makespan: u64,
    /// Sum of op costs per rank.
    pub busy: Vec<u64>,
}

impl AnalyticRun {
    /// Idle time of each rank between time 0 and the end of its own last op.
    pub fn idle_to_own_end(&self) -> Vec<u64> {
        self.end
            .iter()
            .zip(&self.busy)
            .map(|(e, b)| e.last().copied().unwrap_or(0) - b)
            .collect()
    }

    /// Idle time of each rank between time 0 and the makespan.
    pub fn idle_to_makespan(&self) -> Vec<u64> {
        self.busy.iter().map(|b| self.makespan - b).collect()
    }
}

/// Cost of one op under `costs`.
pub fn op_cost(kind: &OpKind, costs: &OpCosts) -> u64 {
    match kind {
        OpKind::Forward(_) => costs.forward,
        OpKind::Backward {
            mode: BackwardMode::Full,
            ..
        } => costs.backward_full,
        OpKind::Backward {
            mode: BackwardMode::InputOnly,
            ..
        } => costs.backward_full - costs.weight,
        OpKind::Weight(_) => costs.weight,
        OpKind::ForwardBackward { .. } => costs.forward_backward,
    }
}

/// Runs the list scheduler.
pub fn list_schedule(schedule: &Schedule, costs: &OpCosts) -> Result<AnalyticRun, AnalyticError> {
    if costs.weight > costs.backward_full {
        return Err(AnalyticError::WeightExceedsBackward {
            weight: costs.weight,
            backward: costs.backward_full,
        });
    }
    let n = schedule.ranks.len();
    let lists = || -> Vec<Vec<u64>> {
        schedule
            .ranks
            .iter()
            .map(|r| Vec::with_capacity(r.len()))
            .collect()
    };
    let mut run = AnalyticRun {
        start: lists(),
        end: lists(),
        makespan: 0,
        busy: vec![0u64; n],
    };
    loop {
        let mut progressed = false;
        let mut done = true;
        for r in 0..n {
            let ops = &schedule.ranks[r];
            progressed |= run.advance(r, ops, costs)?;
            if run.end[r].len() < ops.len() {
                done = false;
            }
        }
        if done {
            break;
        }
        if !progressed {
            let (rank, index) = (0..n)
                .find(|&r| run.end[r].len() < schedule.ranks[r].len())
                .map(|r| (r as u32, run.end[r].len() as u32))
                .unwrap_or((0, 0));
            return Err(AnalyticError::Deadlock { rank, index });
        }
    }
    run.makespan = run
        .end
        .iter()
        .filter_map(|e| e.last().copied())
        .max()
        .unwrap_or(0);
    Ok(run)
}

impl AnalyticRun {
    /// Schedules rank `r`'s next ops (`ops` its list) while their producers have run;
    /// true if any was scheduled.
    fn advance(&mut self, r: usize, ops: &[Op], costs: &OpCosts) -> Result<bool, AnalyticError> {
        let mut progressed = false;
        while self.end[r].len() < ops.len() {
            let op = &ops[self.end[r].len()];
            let Some(ready) = self.ready(r, op, costs)? else {
                break;
            };
            let c = op_cost(&op.kind, costs);
            let e = ready.checked_add(c).ok_or(AnalyticError::Overflow)?;
            self.start[r].push(ready);
            self.end[r].push(e);
            self.busy[r] = self.busy[r].checked_add(c).ok_or(AnalyticError::Overflow)?;
            progressed = true;
        }
        Ok(progressed)
    }

    /// When `op` (next on rank `r`) can start: after the rank's previous op and every
    /// producer (plus the P2P latency from another rank); `None` while a producer has not
    /// run.
    fn ready(&self, r: usize, op: &Op, costs: &OpCosts) -> Result<Option<u64>, AnalyticError> {
        let mut ready = self.end[r].last().copied().unwrap_or(0);
        for d in &op.deps {
            let pr = d.producer.rank as usize;
            let pi = d.producer.index as usize;
            let Some(&t) = self.end.get(pr).and_then(|e| e.get(pi)) else {
                return Ok(None);
            };
            let lat = if d.is_p2p(r as u32) {
                costs.p2p_latency
            } else {
                0
            };
            ready = ready.max(t.checked_add(lat).ok_or(AnalyticError::Overflow)?);
        }
        Ok(Some(ready))
    }
}
