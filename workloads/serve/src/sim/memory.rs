//! The serving run's memory budget per tier (checked when the run is set up) and its
//! occupancy step by step ([`crate::budget`]).

use memwall_models::units::{format_bytes, parse_bytes};
use memwall_models::SystemSpec;
use memwall_sim::Ps;

use super::{EngramRun, ScenarioError, ServeSim};
use crate::batcher::Batcher;
use crate::budget::{Occupancy, Term, TierBudget, TierUse};
use crate::cost::CostModel;
use crate::engine::Engine;
use crate::scenario::{HostCopy, Scenario};

/// Occupancy rows sampled per step, and the bytes per token they scale.
pub(crate) struct Memory {
    occ: Occupancy,
    kv_row: usize,
    kv_per_token: u64,
    /// Activations sampled per step (none under an engine profile: its measured
    /// non-KV memory is a fixed row).
    act: Option<(usize, u64)>,
}

/// What the budget is built from.
pub(crate) struct Setup<'a, 'b> {
    pub s: &'a Scenario,
    pub sys: &'a SystemSpec,
    pub cost: &'a CostModel,
    pub engine: Option<&'a Engine>,
    pub batchers: &'a [Batcher],
    pub engram: Option<&'a EngramRun<'b>>,
    /// Engram table HBM per GPU (a sharded table's share).
    pub engram_hbm: u64,
    /// The socket of each replica's GPU.
    pub gpu_sockets: Vec<usize>,
}

/// Activation bytes per token in flight: one layer's input and output on the residual
/// path (hidden x residual streams, at the activation dtype). An estimate; an engine
/// profile's measured non-KV memory replaces it.
fn activation_bytes_per_token(cost: &CostModel) -> u64 {
    let m = &cost.model;
    2 * m
        .activation_dtype
        .bytes_for(m.hidden_size * m.residual_streams())
}

impl Memory {
    /// The budget of every tier, checked (an impossible deployment is refused with every
    /// term named), and the occupancy rows the run fills.
    pub(crate) fn check(x: Setup) -> Result<Memory, ScenarioError> {
        let cap = x.sys.node.gpu.hbm_capacity_bytes;
        let mut occ = Occupancy::default();
        let hbm = hbm_budget(&x, cap)?;
        let hint = "lower [engine] kv_cache_tokens or max_batched_tokens, raise expert_parallel \
                    or tensor_parallel, move the Engram table or its HBM cache off HBM, or pick \
                    a GPU with more HBM";
        hbm.check(&x.s.origin, hint)?;
        let kv_per_token = x.cost.kv_bytes_per_token()?;
        let mut kv_row = 0;
        let mut act = None;
        for t in &hbm.terms {
            match t.tenant {
                "KV cache" => kv_row = occ.add_sampled("hbm", "kv-cache", cap),
                "activations" if x.engine.is_none() => {
                    act = Some((
                        occ.add_sampled("hbm", "activations", cap),
                        activation_bytes_per_token(x.cost),
                    ))
                }
                tenant => occ.add_static("hbm", &tenant.to_lowercase(), cap, t.bytes),
            }
        }
        for b in host_budgets(&x) {
            b.check(
                &x.s.origin,
                "use [engram] host_copy = \"per-node\" or a placement off host DRAM (nvme), or \
                 a host with more DRAM",
            )?;
            for t in &b.terms {
                occ.add_static(&b.tier, t.tenant, b.capacity, t.bytes);
            }
        }
        Ok(Memory {
            occ,
            kv_row,
            kv_per_token,
            act,
        })
    }

    pub(crate) fn finish(self) -> Vec<TierUse> {
        self.occ.finish()
    }
}

/// One replica GPU's HBM: weights, the KV pool, Engram (shard and row cache), activations.
fn hbm_budget(x: &Setup, cap: u64) -> Result<TierBudget, ScenarioError> {
    let kv_tokens = x.batchers.first().map_or(0, |b| b.kv_capacity_tokens());
    let per_token = x.cost.kv_bytes_per_token()?;
    let cache = match x.engram.and_then(|e| e.spec.hbm_cache.as_ref()) {
        Some(h) => {
            x.s.quantity("engram.hbm_cache.size", &h.size, parse_bytes)?
        }
        None => 0,
    };
    let act = match x.engine {
        Some(g) => Term {
            tenant: "activations",
            bytes: g.non_kv_memory,
            how: format!("engine {}'s non-KV memory", g.name),
        },
        None => {
            let tokens = x.s.engine.max_batched_tokens_or_default();
            let per = activation_bytes_per_token(x.cost);
            Term {
                tenant: "activations",
                bytes: tokens.saturating_mul(per),
                how: format!("estimate: max_batched_tokens {tokens} x {per} B"),
            }
        }
    };
    let terms = vec![
        Term {
            tenant: "weights",
            bytes: x.cost.weight_bytes_per_gpu()?,
            how: "per GPU, after expert and tensor parallelism".into(),
        },
        Term {
            tenant: "KV cache",
            bytes: kv_tokens.saturating_mul(per_token),
            how: format!("{kv_tokens} tokens x {}", format_bytes(per_token)),
        },
        Term {
            tenant: "Engram",
            bytes: x.engram_hbm + cache,
            how: format!(
                "table shard {} + HBM row cache {}",
                format_bytes(x.engram_hbm),
                format_bytes(cache)
            ),
        },
        act,
    ];
    Ok(TierBudget {
        tier: format!("the HBM of each GPU ({})", x.sys.node.gpu.name),
        capacity: cap,
        terms,
    })
}

/// Each socket's host DRAM: the Engram copies (or row caches) it holds.
fn host_budgets(x: &Setup) -> Vec<TierBudget> {
    let Some(e) = x.engram else { return Vec::new() };
    let bytes = e.spec.tier.spec().host_dram_bytes(e.setup.table_bytes);
    x.sys
        .node
        .sockets
        .iter()
        .map(|sock| {
            let holds = match e.spec.host_copy {
                HostCopy::PerNode => sock.index == 0,
                HostCopy::PerSocket => x.gpu_sockets.contains(&sock.index),
            };
            TierBudget {
                tier: format!("host-dram.socket{}", sock.index),
                capacity: sock.dram_capacity_bytes,
                terms: vec![Term {
                    tenant: "engram",
                    bytes: if holds && bytes > 0 { bytes } else { 0 },
                    how: format!("{} placement", e.spec.tier.name()),
                }],
            }
        })
        .filter(|b| b.total() > 0)
        .collect()
}

impl ServeSim<'_> {
    /// The step's KV cache and activations on the busiest replica, held for `dur`.
    pub(super) fn sample_memory(&mut self, dur: Ps, kv_tokens: u64, step_tokens: u64) {
        let m = &mut self.memory;
        m.occ
            .sample(m.kv_row, kv_tokens.saturating_mul(m.kv_per_token), dur);
        if let Some((row, per)) = m.act {
            m.occ.sample(row, step_tokens.saturating_mul(per), dur);
        }
    }
}
