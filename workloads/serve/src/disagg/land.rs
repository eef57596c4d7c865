//! The decode pool's side: requests join their decode replica when their KV has landed,
//! with the prompt's KV in place; only the first step of each is rewritten (a decode of
//! the shipped first token, or the prompt's last partial block under vLLM's connector).

use std::collections::{BTreeSet, VecDeque};

use memwall_sim::Ps;

use super::ship::Landed;
use super::spec::FirstToken;
use crate::batcher::{Batcher, StepPlan};
use crate::metrics::Tracker;
use crate::requests::Request;

/// Landed requests not yet handed to a decode replica, in landing order.
pub(crate) struct Handoff {
    queue: VecDeque<Landed>,
    first_token: FirstToken,
    /// KV block size of the connector (full blocks are pulled; vLLM NixlConnector).
    block: u32,
    /// Requests handed over whose first step has not been planned yet.
    fresh: BTreeSet<u64>,
}

impl Handoff {
    pub fn new(mut landed: Vec<Landed>, first_token: FirstToken, block: u32) -> Handoff {
        landed.sort_by_key(|l| (l.landed, l.id));
        Handoff {
            queue: landed.into(),
            first_token,
            block: block.max(1),
            fresh: BTreeSet::new(),
        }
    }

    /// When the next request lands.
    pub fn next_at(&self) -> Option<Ps> {
        self.queue.front().map(|l| l.landed)
    }

    /// Hands over every request landed by `now`. With the first token sampled at
    /// prefill it reaches the client now; a one-token request is then done.
    pub fn admit(&mut self, now: Ps, batchers: &mut [Batcher], tracker: &mut Tracker) {
        while self.queue.front().is_some_and(|l| l.landed <= now) {
            let l = self.queue.pop_front().expect("front");
            let shipped = self.first_token == FirstToken::Prefill;
            if shipped {
                tracker.token(l.id, l.landed);
                if l.output <= 1 {
                    tracker.finish(l.id, l.arrival, (l.prompt, l.output), l.scheduled);
                    continue;
                }
            }
            let b = &mut batchers[l.replica];
            let r = Request {
                arrival: l.arrival,
                prompt: l.prompt,
                output: l.output,
            };
            b.push(l.id, &r);
            if let Some(sq) = b.waiting.back_mut() {
                sq.first_scheduled = Some(l.scheduled);
                sq.generated = u32::from(shipped);
            }
            self.fresh.insert(l.id);
        }
    }

    /// Rewrites the first step of each request handed over: its prompt's KV is there.
    pub fn rewrite(&mut self, batchers: &[Batcher], plans: &mut [StepPlan]) {
        if self.fresh.is_empty() {
            return;
        }
        for (b, p) in batchers.iter().zip(plans.iter_mut()) {
            for w in p.work.iter_mut().filter(|w| !w.decode && w.ctx == 0) {
                let sq = &b.seqs[w.seq];
                if !self.fresh.remove(&sq.id) {
                    continue;
                }
                let target = sq.prefill_target;
                let keep = match self.first_token {
                    FirstToken::Prefill => target - 1,
                    FirstToken::Decode => (sq.prompt / self.block * self.block).min(target - 1),
                };
                w.ctx = keep;
                w.new = target - keep;
                w.samples = true;
                w.decode = self.first_token == FirstToken::Prefill;
            }
        }
    }
}
