//! The step loop's side of disaggregated prefill and decode (`crate::disagg`): the
//! prefill pool serves prompts only and ships each finished prefill's KV; the decode
//! pool takes requests as their KV lands.

use std::ops::Range;

use memwall_llm::ModelConfig;
use memwall_models::node::NodeModel;
use memwall_sim::{Executor, OpId, OpSpec, Work};

use super::{ServeSim, SimOutput};
pub(crate) use crate::disagg::Pools;
use crate::disagg::{check_pools, Handoff, Landed, Ship};
use crate::engine::Engine;
use crate::error::ScenarioError;
use crate::requests::Request;
use crate::scenario::Scenario;

/// Which pool a simulation is.
pub(crate) enum Role {
    Prefill,
    /// The decode pool, with the prefill pool's landed requests.
    Decode(Vec<Landed>),
}

/// A pool's own part of the run.
pub(crate) enum Side {
    Prefill(Ship),
    Decode(Handoff),
}

/// The pools of a disaggregated scenario and this simulation's GPUs: `None` without
/// `[disaggregation]` or a role.
pub(crate) fn pools(
    s: &Scenario,
    role: Option<&Role>,
    node: &NodeModel,
    tp: usize,
) -> Result<Option<(Pools, Vec<usize>)>, ScenarioError> {
    let (Some(spec), Some(role)) = (&s.disaggregation, role) else {
        return Ok(None);
    };
    let p = check_pools(s, spec, node, tp)?;
    let mine = match role {
        Role::Prefill => p.prefill.clone(),
        Role::Decode(_) => p.decode.clone(),
    };
    Ok(Some((p, mine)))
}

/// This pool's side of the run.
pub(crate) fn side(
    s: &Scenario,
    role: Option<Role>,
    pools: Option<&Pools>,
    ex: &mut Executor,
    (model, engine, tp): (&ModelConfig, Option<&Engine>, usize),
) -> Result<Option<Side>, ScenarioError> {
    let (Some(spec), Some(role), Some(pools)) = (&s.disaggregation, role, pools) else {
        return Ok(None);
    };
    Ok(Some(match role {
        Role::Prefill => {
            let layer_bytes = (0..model.num_layers)
                .map(|l| Ok(model.kv_cache_bytes_per_token(l)? / tp as u64))
                .collect::<Result<Vec<u64>, ScenarioError>>()?;
            Side::Prefill(Ship::new(ex, spec, pools, tp, layer_bytes))
        }
        Role::Decode(landed) => {
            let block = engine.map_or(16, |e| e.block_size) as u32;
            Side::Decode(Handoff::new(landed, spec.first_token, block))
        }
    }))
}

impl ServeSim<'_> {
    /// A request arriving at the prefill pool is served one token (its own output length
    /// is kept for the decode pool).
    pub(super) fn pd_arrival(&mut self, id: u64, r: Request) -> Request {
        match self.pd.as_mut() {
            Some(Side::Prefill(ship)) => {
                ship.remember(id, r.output);
                Request { output: 1, ..r }
            }
            _ => r,
        }
    }

    /// The decode pool: requests whose KV has landed by now join their replica.
    pub(super) fn pd_admit(&mut self) {
        if let Some(Side::Decode(h)) = self.pd.as_mut() {
            h.admit(self.now, &mut self.batchers, &mut self.tracker);
        }
    }

    /// The next landing, for a decode pool with nothing to run.
    pub(super) fn pd_next(&self) -> Option<memwall_sim::Ps> {
        match &self.pd {
            Some(Side::Decode(h)) => h.next_at(),
            _ => None,
        }
    }

    /// The decode pool's plans: each request's first step starts from its landed KV.
    pub(super) fn pd_rewrite(&mut self) {
        if let Some(Side::Decode(h)) = self.pd.as_mut() {
            h.rewrite(&self.batchers, &mut self.plans);
        }
    }

    /// Whether this is the prefill pool shipping layer by layer (its last compute
    /// segment is then one op per layer).
    pub(super) fn pd_layerwise(&self) -> bool {
        matches!(&self.pd, Some(Side::Prefill(s)) if s.layerwise)
    }

    /// Layers `layers` of replica `gi`'s step as one compute op each after `after`: the
    /// ops and the layer each computed.
    pub(super) fn layer_ops(
        &mut self,
        gi: usize,
        layers: Range<u32>,
        mut after: Option<OpId>,
        ready: &mut Vec<(OpId, Range<u32>)>,
    ) -> Result<Option<OpId>, ScenarioError> {
        let (compute, su) = (self.gpus[gi].compute, self.step as u32);
        for l in layers {
            let t = self.cost.range_time(&self.class_t, l..l + 1);
            let o = OpSpec::new(compute, self.cats.compute, Work::Delay(t))
                .after(after.or(self.prev))
                .at(su, l);
            let id = self.add(o)?;
            ready.push((id, l..l + 1));
            after = Some(id);
        }
        Ok(after)
    }

    /// The prefill pool: ships the KV of every prefill replica `gi` finishes this step,
    /// after the ops in `ready` (layerwise) or after `fin`.
    pub(super) fn pd_ship(
        &mut self,
        gi: usize,
        ready: &[(OpId, Range<u32>)],
        fin: OpId,
    ) -> Result<(), ScenarioError> {
        let Some(Side::Prefill(ship)) = self.pd.as_mut() else {
            return Ok(());
        };
        let b = &self.batchers[gi];
        let su = self.step as u32;
        for w in self.plans[gi]
            .work
            .iter()
            .filter(|w| w.samples && !w.decode)
        {
            let sq = &b.seqs[w.seq];
            let r = crate::disagg::Finished {
                id: sq.id,
                arrival: sq.arrival,
                prompt: sq.prompt,
                scheduled: sq.first_scheduled.unwrap_or(sq.arrival),
            };
            ship.send(&mut self.ex, &self.node, (gi, su), r, ready, fin)?;
        }
        Ok(())
    }

    /// After a step has run: which transfers landed.
    pub(super) fn pd_poll(&mut self) {
        if let Some(Side::Prefill(ship)) = self.pd.as_mut() {
            ship.poll(self.ex.timeline());
        }
    }

    /// The oldest op a transfer in flight still needs.
    pub(super) fn pd_keep_from(&self) -> Option<OpId> {
        match &self.pd {
            Some(Side::Prefill(ship)) => ship.keep_from(),
            _ => None,
        }
    }

    /// Serves every request; a prefill pool then lets its last transfers land, and
    /// returns what landed.
    pub(crate) fn run_pool(mut self) -> Result<(SimOutput, Option<Ship>), ScenarioError> {
        self.serve()?;
        if let Some(Side::Prefill(ship)) = self.pd.as_ref() {
            if !ship.is_idle() {
                self.ex.run()?;
                self.pd_poll();
            }
        }
        let ship = match self.pd.take() {
            Some(Side::Prefill(s)) => Some(s),
            _ => None,
        };
        let bytes = ship
            .as_ref()
            .map(|s| (s.cat, crate::kv::resource_bytes(&self.ex, s.cat)));
        let mut out = self.finish();
        if let (Some(s), Some((_, b))) = (ship.as_ref(), bytes) {
            out.stats.disagg = Some(crate::disagg::DisaggStats::of_ship(s, b));
        }
        Ok((out, ship))
    }
}

impl ServeSim<'_> {
    /// Replica `gi`'s compute segments before its Engram layers this step, with the
    /// layers each computed (their KV is ready when the segment ends).
    pub(super) fn engram_ready(&self, gi: usize) -> Vec<(OpId, Range<u32>)> {
        let Some(e) = &self.engram else {
            return Vec::new();
        };
        let mut from = 0;
        let mut out = Vec::new();
        for (k, f) in self.fetches[gi].iter().enumerate() {
            let (Some(f), Some(&(_, lid))) = (f, e.layers.get(k)) else {
                continue;
            };
            out.push((f.before, from..lid));
            from = lid;
        }
        out
    }
}
