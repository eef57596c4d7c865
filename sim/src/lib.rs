//! memwall-sim: the discrete-event kernel.
//!
//! Time ([`Ps`], integer picoseconds), a deterministic [`EventQueue`], bandwidth
//! resources shared max-min fairly among flows ([`FlowNet`]), queue servers with a depth
//! and an IOPS ceiling ([`QueueSpec`]), and an [`Executor`] that runs op graphs on
//! streams and records a [`Timeline`] with each op's blocker; [`attribute`] splits every
//! non-compute op's latency into hidden and exposed.
//!
//! It knows nothing about GPUs or LLMs: a model wires resources, a workload adds ops.
//! Entry points: build a [`FlowNet`] of resources, hand it to an [`Executor`], add
//! streams, categories and ops ([`OpSpec`] with a [`Work`]), [`Executor::run`], then read
//! [`Executor::timeline`] and [`attribute`] it.
//!
//! Two 1 GB copies on two streams share one 100 GB/s link max-min fairly: each gets
//! 50 GB/s, so both end at 20 ms, exactly (plus the 1 us latency each pays first).
//!
//! ```
//! use memwall_sim::{Executor, FlowNet, FlowSpec, OpKind, OpSpec, Ps, Work};
//!
//! let mut net = FlowNet::new();
//! let link = net.add_resource("pcie", 100_000_000_000).unwrap(); // bytes per second
//! let mut ex = Executor::new(net);
//! let copy = ex.category("h2d", OpKind::Memory);
//! let ops: Vec<_> = (0..2)
//!     .map(|i| {
//!         let stream = ex.add_stream(format!("copy{i}"), true, false);
//!         let work = Work::Transfer {
//!             latency: Ps::from_ns(1_000),
//!             flows: vec![FlowSpec { path: vec![link], bytes: 1_000_000_000, rate_cap: None }],
//!         };
//!         ex.add_op(OpSpec::new(stream, copy, work)).unwrap()
//!     })
//!     .collect();
//! ex.run().unwrap();
//! for op in ops {
//!     assert_eq!(ex.timeline().get(op).unwrap().end, Ps::from_ns(1_000) + Ps::from_ns(20_000_000));
//! }
//! ```

pub mod attribution;
pub mod audit;
pub mod executor;
pub mod flow;
pub mod queue;
pub mod storage;
pub mod time;
pub mod timeline;

pub use attribution::{
    attribute, Attribution, Attributor, CategoryTotals, OpExposure, StreamAccount,
};
pub use executor::{Executor, FlowSpec, OpSpec, SimError, Work};
pub use flow::{FlowError, FlowId, FlowNet, ResourceId};
pub use queue::EventQueue;
pub use storage::{QueueSpec, ServerId};
pub use time::{Ps, TimeOverflow, PS_PER_SEC};
pub use timeline::{Category, CategoryId, OpId, OpKind, OpRecord, StreamId, StreamInfo, Timeline};
