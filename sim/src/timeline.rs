//! What the executor recorded: for each op, when it became ready, started and ended, and
//! which dependency released it last (its blocker). Reports read this; they never
//! re-simulate.

use crate::time::Ps;

/// Index of an op in the graph (monotonic over a whole run).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u64);

/// Index of a stream.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u32);

/// Index of an op category (a label such as "engram-fetch" or "ep-dispatch").
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CategoryId(pub u16);

/// The broad kind of an op. Only `Compute` ops make a compute stream busy; the others
/// can be hidden behind compute or exposed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OpKind {
    Compute,
    Memory,
    Communication,
    Storage,
    Host,
    /// Zero-work synchronisation points.
    Marker,
}

impl OpKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OpKind::Compute => "compute",
            OpKind::Memory => "memory",
            OpKind::Communication => "communication",
            OpKind::Storage => "storage",
            OpKind::Host => "host",
            OpKind::Marker => "marker",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Category {
    pub name: String,
    pub kind: OpKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    pub name: String,
    /// Serial streams run one op at a time, in the order ops were added (a CUDA stream).
    /// Concurrent streams start each op as soon as its dependencies are done.
    pub serial: bool,
    /// Whether idle time on this stream counts as a stall (a GPU's compute stream).
    pub compute: bool,
}

/// One op's record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpRecord {
    pub id: OpId,
    pub stream: StreamId,
    pub category: CategoryId,
    /// Generic grouping keys chosen by the workload (e.g. serving step and layer).
    pub step: u32,
    pub layer: u32,
    /// All data dependencies done (the stream may still be busy).
    pub ready: Ps,
    pub start: Ps,
    pub end: Ps,
    /// The dependency (or stream predecessor) whose end released this op last; `None`
    /// when nothing held it back (it started when it was added).
    pub blocker: Option<OpId>,
    /// Bytes moved (flows and storage requests), 0 for compute and delays.
    pub bytes: u64,
    /// Time spent queued or in fixed latency before data moved.
    pub latency: Ps,
}

impl OpRecord {
    pub fn duration(&self) -> Ps {
        self.end.saturating_sub(self.start)
    }
    pub fn finished(&self) -> bool {
        self.end != Ps::MAX
    }
}

/// The recorded run: streams, categories and op records (ops forgotten by
/// [`crate::Executor::forget_before`] are gone; `base` is the first op id kept).
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    pub streams: Vec<StreamInfo>,
    pub categories: Vec<Category>,
    pub base: u64,
    pub records: Vec<OpRecord>,
}

impl Timeline {
    pub fn get(&self, id: OpId) -> Option<&OpRecord> {
        id.0.checked_sub(self.base)
            .and_then(|i| self.records.get(i as usize))
    }
    pub fn category(&self, c: CategoryId) -> &Category {
        &self.categories[c.0 as usize]
    }
    pub fn stream(&self, s: StreamId) -> &StreamInfo {
        &self.streams[s.0 as usize]
    }
    pub fn kind_of(&self, id: OpId) -> Option<OpKind> {
        self.get(id).map(|r| self.category(r.category).kind)
    }
    /// Last end time over all finished records.
    pub fn makespan(&self) -> Ps {
        self.records
            .iter()
            .filter(|r| r.finished())
            .map(|r| r.end)
            .max()
            .unwrap_or(Ps::ZERO)
    }
}
