//! Vocabulary shared by every pipeline schedule: chunks, ops, dependencies.

use serde::Serialize;
use std::fmt;

/// Which of a schedule's pipelines a chunk belongs to.
///
/// - DualPipe: `A` enters at rank 0 and runs stages 0..PP on ranks 0..PP; `B` enters at
///   the last rank and runs stages 0..PP on ranks PP-1..0 (the second, mirrored pipeline).
/// - DualPipeV: `A` is the outbound half of a micro-batch (stages 0..D on devices 0..D),
///   `B` the return half of the *same* micro-batch (stages D..2D on devices D-1..0).
/// - 1F1B / ZB1P: every chunk is `A`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum Direction {
    A,
    B,
}

impl Direction {
    /// Lower-case letter used in the reference listing (`Fa3`, `Bb0`).
    pub fn letter(self) -> char {
        match self {
            Direction::A => 'a',
            Direction::B => 'b',
        }
    }
}

/// One pipeline chunk: a micro-batch on one model stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Chunk {
    pub direction: Direction,
    /// Index of the micro-batch *within its direction*, counted as the reference counts
    /// (`Fb0` is the first micro-batch of direction b). For DualPipeV, `A`'s micro-batch m
    /// and `B`'s micro-batch m are the same data.
    pub micro_batch: u32,
    /// Index of the model stage this chunk runs (0 = the stage holding the embedding).
    /// DualPipe: PP stages, rank r holds stages r and PP-1-r. DualPipeV: 2D stages,
    /// device r holds r and 2D-1-r. 1F1B/ZB1P: rank r holds stage r.
    pub stage: u32,
}

/// Whether a backward chunk also computes the weight gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum BackwardMode {
    /// Input and weight gradients together (the README's `B`).
    Full,
    /// Input gradient only; the weight gradient is deferred to a later [`OpKind::Weight`]
    /// op on the same rank (zero-bubble; the reference's `enable_zb=True`).
    InputOnly,
}

/// What one op on a rank's compute stream does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum OpKind {
    /// Forward of one chunk (cost `F`).
    Forward(Chunk),
    /// Backward of one chunk (cost `B` if `Full`, `B - W` if `InputOnly`).
    Backward { chunk: Chunk, mode: BackwardMode },
    /// Deferred weight gradient of a chunk whose backward ran `InputOnly` (cost `W`).
    /// The reference pops these FIFO; `chunk` says which one this is.
    Weight(Chunk),
    /// A forward and a full backward run as one mutually overlapped pair (cost `F&B`).
    ForwardBackward { forward: Chunk, backward: Chunk },
}

impl OpKind {
    /// The chunk whose forward this op runs, if any.
    pub fn forward_chunk(&self) -> Option<Chunk> {
        match *self {
            OpKind::Forward(c) => Some(c),
            OpKind::ForwardBackward { forward, .. } => Some(forward),
            _ => None,
        }
    }

    /// The chunk whose backward (input gradient) this op runs, if any.
    pub fn backward_chunk(&self) -> Option<Chunk> {
        match *self {
            OpKind::Backward { chunk, .. } => Some(chunk),
            OpKind::ForwardBackward { backward, .. } => Some(backward),
            _ => None,
        }
    }

    /// The chunk whose weight gradient this op completes, if any (a full backward or a
    /// forward-backward pair completes its backward chunk's weight gradient too).
    pub fn weight_chunk(&self) -> Option<Chunk> {
        match *self {
            OpKind::Weight(c) => Some(c),
            OpKind::Backward {
                chunk,
                mode: BackwardMode::Full,
            } => Some(chunk),
            OpKind::ForwardBackward { backward, .. } => Some(backward),
            _ => None,
        }
    }
}

/// Position of an op: its rank and its index in that rank's ordered op list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct OpRef {
    pub rank: u32,
    pub index: u32,
}

/// Why an op waits for another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum DependencyKind {
    /// The forward of `chunk` needs the activation that the previous stage's forward of
    /// the same micro-batch produced. A P2P activation send when the producer is on
    /// another rank (DualPipeV's turn-around on the last device is rank-local).
    Activation,
    /// The backward of `chunk` needs the output gradient that the next stage's backward
    /// of the same micro-batch produced. A P2P gradient send when on another rank.
    Gradient,
    /// The backward of `chunk` needs its own forward (saved activations; on the loss
    /// stage also the loss). Always the same rank.
    OwnForward,
    /// The deferred weight gradient of `chunk` needs its own input-gradient backward.
    /// Always the same rank.
    OwnBackward,
}

/// A data dependency of an op on an earlier-finishing op. Program order within a rank
/// (op i+1 starts after op i ends on the same compute stream) is implicit and not listed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Dependency {
    pub producer: OpRef,
    pub kind: DependencyKind,
    /// The chunk on the consumer's side that needs the data (for `Activation` and
    /// `Gradient`, the producer ran the neighbouring stage of the same micro-batch).
    pub chunk: Chunk,
}

impl Dependency {
    /// True when the data must travel between ranks (a pipeline P2P message). `consumer_rank`
    /// is the rank of the op that holds this dependency.
    pub fn is_p2p(&self, consumer_rank: u32) -> bool {
        self.producer.rank != consumer_rank
    }
}

/// One op on a rank's compute stream with its data dependencies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Op {
    pub kind: OpKind,
    pub deps: Vec<Dependency>,
}

/// The schedules this module generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ScheduleKind {
    /// Classic one-forward-one-backward (PipeDream-flush).
    OneFOneB,
    /// Zero-bubble 1F1B (ZB-H1 of Qi et al. 2024): backward split into B (input) and W.
    Zb1p,
    /// DeepSeek DualPipe, bidirectional, PP ranks.
    DualPipe,
    /// DualPipeV ("cut-in-half"), PP/2 devices.
    DualPipeV,
}

impl fmt::Display for ScheduleKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            ScheduleKind::OneFOneB => "1f1b",
            ScheduleKind::Zb1p => "zb1p",
            ScheduleKind::DualPipe => "dualpipe",
            ScheduleKind::DualPipeV => "dualpipev",
        };
        f.write_str(s)
    }
}

/// Formats an op as the reference listing does (`Fa3`, `Bb0*`, `W`, `[Fa7&Bb3]`).
pub fn reference_label(kind: &OpKind) -> String {
    fn c(prefix: char, ch: &Chunk) -> String {
        format!("{}{}{}", prefix, ch.direction.letter(), ch.micro_batch)
    }
    match kind {
        OpKind::Forward(ch) => c('F', ch),
        OpKind::Backward { chunk, mode } => {
            let mut s = c('B', chunk);
            if *mode == BackwardMode::InputOnly {
                s.push('*');
            }
            s
        }
        OpKind::Weight(_) => "W".to_string(),
        OpKind::ForwardBackward { forward, backward } => {
            format!("[{}&{}]", c('F', forward), c('B', backward))
        }
    }
}
