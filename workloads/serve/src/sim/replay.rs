//! The step loop of a trace replay ([`crate::mwet`]): steps, their composition and each
//! Engram layer's row ids come from the trace instead of the batcher and the hash; the
//! step itself (compute, fetches through the tier and its caches, attribution) is the
//! serving simulation's own.

use memwall_engram::trace::TraceHeader;
use memwall_sim::Ps;

use super::{ScenarioError, ServeSim, SimOutput, StepDone};
use crate::mwet::{TraceDigest, TraceStep, TraceSteps};
use crate::run::BatchRow;

/// The replayed step's row ids, and what the run consumed.
pub(crate) struct Replayed {
    /// Per layer (header order): this step's row ids, in the layer's table.
    rows: Vec<Vec<u64>>,
    present: Vec<bool>,
    /// First row of each layer's table (the tiers see one id space over both tables).
    offsets: Vec<u64>,
    layer_ids: Vec<u32>,
    step: u64,
    pub(crate) digest: TraceDigest,
}

impl Replayed {
    fn new(h: &TraceHeader) -> Replayed {
        let offsets = h
            .config
            .table_rows
            .iter()
            .scan(0u64, |acc, &r| {
                let o = *acc;
                *acc += r;
                Some(o)
            })
            .collect();
        Replayed {
            rows: Vec::new(),
            present: Vec::new(),
            offsets,
            layer_ids: h.config.layer_ids.clone(),
            step: 0,
            digest: TraceDigest::default(),
        }
    }

    fn load(&mut self, t: &TraceStep) {
        self.rows.clone_from(&t.rows);
        self.present.clone_from(&t.present);
        self.step = t.step;
        self.digest.add_step(t.tokens());
    }

    /// Layer `li`'s row ids for this step, appended to `out` in the tiers' id space.
    pub(crate) fn layer_rows(&mut self, li: usize, out: &mut Vec<u64>) {
        let rows = &self.rows[li];
        if self.present[li] {
            self.digest.add_rows(self.step, self.layer_ids[li], rows);
        }
        let off = self.offsets[li];
        out.extend(rows.iter().map(|r| r + off));
    }
}

impl ServeSim<'_> {
    /// Serves the trace's steps on one replica, in order.
    pub(crate) fn run_trace(mut self, steps: &mut TraceSteps) -> Result<SimOutput, ScenarioError> {
        self.replay = Some(Replayed::new(steps.header()));
        let label = if self.engram.is_some() {
            "replaying"
        } else {
            "replaying without Engram"
        };
        let progress = memwall_io::progress::task(label, None, "steps");
        let mut n = 0;
        while let Some(t) = steps.next_step()? {
            self.plans[0].clone_from(&t.plan);
            if let Some(r) = self.replay.as_mut() {
                r.load(t);
            }
            self.step = t.step;
            let done = self.simulate_step()?;
            let kv = t.plan.work.iter().map(|w| u64::from(w.ctx + w.new)).sum();
            self.sample_memory(done.end - self.now, kv, t.tokens());
            self.replayed_batch(&done, t);
            self.measured_times(t);
            self.complete_replayed(&done, t);
            self.close_step(&done)?;
            n += 1;
            progress.set(n);
        }
        Ok(self.finish())
    }

    /// The step's batch: its sequences, and the KV tokens they hold after it.
    fn replayed_batch(&mut self, done: &StepDone, t: &TraceStep) {
        if !self.opt.step_rows {
            return;
        }
        let work = &t.plan.work;
        self.batch_rows.push(BatchRow {
            step: t.step,
            start: self.now,
            duration: done.end - self.now,
            prefill: done.prefill,
            tokens: done.tokens,
            seqs: work.len() as u64,
            waiting: 0,
            kv_used: work.iter().map(|w| u64::from(w.ctx + w.new)).sum(),
            kv_capacity: self.batchers[0].kv_capacity_tokens(),
        });
    }

    /// The engine's measured step and lookup times beside this step's simulated rows.
    fn measured_times(&mut self, t: &TraceStep) {
        let Some(r) = &self.replay else { return };
        for row in self.totals.step_rows.iter_mut().rev() {
            if row.step != t.step {
                break;
            }
            row.engine_step = t.engine_step;
            let li = r.layer_ids.iter().position(|&l| l == row.layer);
            row.engine_lookup = li
                .and_then(|i| t.lookups[i])
                .map(|(a, b)| Ps(b.saturating_sub(a).saturating_mul(1000)));
        }
    }

    /// Tokens out (one per sampling sequence), caches stepped, counters.
    fn complete_replayed(&mut self, done: &StepDone, t: &TraceStep) {
        let st = &mut self.totals.st;
        st.output_tokens += t.plan.work.iter().filter(|w| w.samples).count() as u64;
        if done.prefill {
            st.prompt_tokens += done.tokens;
            st.prefill_steps += 1;
        }
        st.steps += 1;
        if let Some(e) = self.engram.as_mut() {
            for c in e.hbm_caches.iter_mut() {
                c.end_step();
            }
        }
    }
}
