//! memwall-sim: the discrete-event kernel.
//!
//! Time ([`Ps`], integer picoseconds), a deterministic [`EventQueue`], bandwidth
//! resources shared max-min fairly among flows ([`FlowNet`]), queue servers with a depth
//! and an IOPS ceiling ([`QueueSpec`]), and an [`Executor`] that runs op graphs on
//! streams and records a [`Timeline`] with each op's blocker; [`attribute`] splits every
//! non-compute op's latency into hidden and exposed.
//!
//! It knows nothing about GPUs or LLMs: a model wires resources, a workload adds ops.

pub mod attribution;
pub mod executor;
pub mod flow;
pub mod queue;
pub mod storage;
pub mod time;
pub mod timeline;

pub use attribution::{attribute, Attribution, CategoryTotals, OpExposure, StreamAccount};
pub use executor::{Executor, FlowSpec, OpSpec, SimError, Work};
pub use flow::{FlowError, FlowId, FlowNet, ResourceId};
pub use queue::EventQueue;
pub use storage::{QueueSpec, ServerId};
pub use time::{Ps, TimeOverflow, PS_PER_SEC};
pub use timeline::{Category, CategoryId, OpId, OpKind, OpRecord, StreamId, StreamInfo, Timeline};
