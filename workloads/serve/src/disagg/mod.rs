//! Disaggregated prefill and decode (docs/tiers.md, "Disaggregated prefill and decode").
//!
//! `[disaggregation]` puts prefill and decode on separate pools of the node's GPUs. A
//! run is two simulations on one scenario: the prefill pool serves every request's
//! prompt (as vLLM's proxy sends it with `max_tokens = 1`), and each finished prefill
//! ships the request's KV to a decode replica as flows (`kv-transfer`) over NVLink, the
//! NICs (RDMA) or pinned host DRAM, on the prefill pool's wired node where they share
//! the links with its other tenants (Engram fetches, KV offload). Where the engine does
//! so (`layerwise`), each layer's KV leaves as soon as that layer is computed. The decode
//! pool then takes each request when its KV has landed and decodes it; the two pools step
//! independently, as separate engines do.
//!
//! The first token: with `first_token = "prefill"` (SGLang's PD disaggregation: the
//! prefill's sampled token travels with the KV and the decode server skips the prefill
//! forward) it reaches the client when the KV lands, so TTFT = the co-located TTFT plus
//! the exposed part of the transfer; with `first_token = "decode"` (vLLM's
//! NixlConnector: the decode instance pulls the prompt's full blocks and computes the
//! rest itself) it is sampled by the decode pool's first step of the request.

mod land;
mod merge;
mod ship;
mod spec;

pub(crate) use land::Handoff;
pub(crate) use merge::run_disaggregated;
pub use merge::{stats_json, DisaggStats};
pub(crate) use ship::{Finished, Landed, Ship};
pub(crate) use spec::{check_pools, Pools};
pub use spec::{DisaggSpec, FirstToken, TransferKind};
