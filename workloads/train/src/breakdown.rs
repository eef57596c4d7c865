//! Where each rank's step went, in the categories of a published step breakdown:
//! compute of forward-only, backward-only (input gradient), weight-gradient-only and
//! overlapped F&B chunks, the pipeline bubble, exposed data-parallel communication, the
//! optimizer, and the rest. Per rank the categories sum to the step exactly.

use memwall_pipeline::OpKind as SchedOp;
use memwall_sim::{Attribution, OpKind, Ps};

use super::build::TrainRun;
use super::plan::Plan;

/// The categories, in column order.
pub const CATEGORIES: [&str; 8] = [
    "forward",
    "backward_input",
    "backward_weight",
    "overlapped_fb",
    "bubble",
    "dp_comm_exposed",
    "optimizer",
    "other",
];

/// Op categories whose exposed wait counts as data-parallel communication.
const DP_CATS: [&str; 3] = ["dp-reduce-scatter", "dp-all-gather", "dp-grad-norm"];
/// Weight-gradient op categories.
const W_CATS: [&str; 3] = ["attn-w", "mlp-w", "embed-head-w"];

/// Seconds per category for every rank (index = rank, columns = [`CATEGORIES`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breakdown {
    pub ranks: Vec<[Ps; 8]>,
}

impl Breakdown {
    /// The mean over ranks of each category.
    pub fn mean(&self) -> [Ps; 8] {
        let n = self.ranks.len().max(1) as u64;
        let mut out = [Ps::ZERO; 8];
        for (i, o) in out.iter_mut().enumerate() {
            *o = Ps(self.ranks.iter().map(|r| r[i].0).sum::<u64>() / n);
        }
        out
    }
}

/// The breakdown of `run` (of `plan`), from its attribution `a` over the whole step:
/// - the four chunk categories: time on the rank's compute stream of ops of that kind
///   of schedule op (compute, and mHC kernels there); weight-gradient ops of a
///   forward-only or backward chunk count as backward_weight, those inside an overlapped
///   pair as overlapped_fb;
/// - bubble: the attribution's bubble (waiting on another rank's compute, or nothing);
/// - dp_comm_exposed: waits blamed on gradient reduce-scatter, gradient norm and
///   parameter all-gather;
/// - optimizer: the AdamW kernel;
/// - other: the remaining exposed waits (EP all-to-all, pipeline P2P, high-priority mHC
///   kernels) and the step-end marker.
pub fn breakdown(plan: &Plan, run: &TrainRun, a: &Attribution) -> Breakdown {
    let tl = &run.timeline;
    let mut ranks = Vec::with_capacity(run.ranks.len());
    for (r, rk) in run.ranks.iter().enumerate() {
        let mut row = [Ps::ZERO; 8];
        let Some(acc) = a.streams.iter().find(|s| s.stream == rk.compute) else {
            ranks.push(row);
            continue;
        };
        let ops = &plan.schedule.ranks[r];
        let mut busy = Ps::ZERO;
        let mut own_memory = Ps::ZERO;
        for rec in tl.records.iter().filter(|x| x.stream == rk.compute) {
            let d = rec.end.saturating_sub(rec.start);
            let cat = tl.category(rec.category);
            let col = match (cat.kind, ops.get(rec.step as usize).map(|o| &o.kind)) {
                (OpKind::Compute, _) if cat.name == "optimizer" => 6,
                (OpKind::Compute | OpKind::Memory, Some(kind)) => {
                    chunk_column(kind, W_CATS.contains(&cat.name.as_str()))
                }
                _ => 7,
            };
            if cat.kind == OpKind::Memory {
                own_memory += d;
            } else {
                busy += d;
            }
            row[col] += d;
        }
        row[4] = acc.bubble;
        let name = |c: &memwall_sim::CategoryId| tl.category(*c).name.as_str();
        row[5] = acc
            .exposed
            .iter()
            .filter(|(c, _)| DP_CATS.contains(&name(c)))
            .map(|(_, p)| *p)
            .sum();
        // What the attribution did not put in busy, bubble or DP, less the mHC kernels
        // on this stream (already in the chunk columns).
        let rest = acc
            .exposed_total()
            .saturating_sub(row[5])
            .saturating_sub(own_memory);
        row[7] += rest + acc.busy.saturating_sub(busy);
        ranks.push(row);
    }
    Breakdown { ranks }
}

/// The chunk column of an op of schedule op `kind`.
fn chunk_column(kind: &SchedOp, weight: bool) -> usize {
    match kind {
        SchedOp::ForwardBackward { .. } => 3,
        SchedOp::Weight(_) => 2,
        _ if weight => 2,
        SchedOp::Forward(_) => 0,
        SchedOp::Backward { .. } => 1,
    }
}
