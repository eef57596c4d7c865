//! memwall-workloads: what runs on the hardware. LLM model configs, Engram hashing and
//! access traces, DualPipe schedules, serving batches, and importers of real engine traces.
//! Turns a workload into an op graph for `memwall-sim`.

pub mod engram;
pub mod kineto;
pub mod model;
pub mod pipeline;
pub mod replay;
pub mod training;
pub mod serving;
