//! Continuous batching as nano-vLLM and vLLM do it, one replica at a time: a step is a
//! prefill step (waiting sequences admitted in arrival order while the step's token
//! budget, the sequence limit and the KV cache allow; a prompt longer than the budget is
//! prefilled in chunks) or, when nothing can be admitted, a decode step of every running
//! sequence (one token each). When the KV cache runs out during decode the newest running
//! sequence is preempted and later recomputed, as nano-vLLM does.

use std::collections::VecDeque;

use memwall_sim::Ps;

use super::requests::Request;

#[derive(Debug, Clone)]
pub struct Seq {
    /// Index in the request list (also seeds its synthetic text).
    pub id: u64,
    pub arrival: Ps,
    pub prompt: u32,
    pub output: u32,
    /// Output tokens generated so far.
    pub generated: u32,
    /// Tokens whose KV is computed (prefilled or decoded).
    pub computed: u32,
    /// When the sequence entered a batch for the first time (queueing delay).
    pub first_scheduled: Option<Ps>,
    /// Tokens to prefill since admission (prompt, plus generated tokens after a preemption).
    pub prefill_target: u32,
}

impl Seq {
    /// Tokens that must be in the KV cache before the next decode (prompt + generated).
    pub fn len(&self) -> u32 {
        self.prompt + self.generated
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One sequence's share of a step: `new` tokens after `ctx` cached ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeqWork {
    pub seq: usize,
    pub ctx: u32,
    pub new: u32,
    /// Whether this chunk ends the sequence's prefill (it samples a token).
    pub samples: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    Prefill,
    Decode,
}

#[derive(Debug, Clone, Default)]
pub struct StepPlan {
    pub prefill: bool,
    pub work: Vec<SeqWork>,
}

impl StepPlan {
    pub fn tokens(&self) -> u64 {
        self.work.iter().map(|w| w.new as u64).sum()
    }
}

/// One replica's scheduler.
#[derive(Debug)]
pub struct Batcher {
    pub max_num_seqs: usize,
    pub max_batched_tokens: u64,
    pub kv_capacity: u64,
    kv_used: u64,
    /// Arrived or future requests not yet admitted, in arrival order.
    pub waiting: VecDeque<Seq>,
    /// Admitted sequences (slab; `None` once finished).
    pub seqs: Vec<Seq>,
    running: Vec<usize>,
    pub finished: u64,
    pub preemptions: u64,
}

impl Batcher {
    pub fn new(max_num_seqs: usize, max_batched_tokens: u64, kv_capacity: u64) -> Self {
        Batcher {
            max_num_seqs,
            max_batched_tokens,
            kv_capacity,
            kv_used: 0,
            waiting: VecDeque::new(),
            seqs: Vec::new(),
            running: Vec::new(),
            finished: 0,
            preemptions: 0,
        }
    }

    pub fn push(&mut self, id: u64, r: &Request) {
        self.waiting.push_back(Seq {
            id,
            arrival: r.arrival,
            prompt: r.prompt,
            output: r.output,
            generated: 0,
            computed: 0,
            first_scheduled: None,
            prefill_target: 0,
        });
    }

    pub fn idle(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// KV-cache tokens held by admitted sequences.
    pub fn kv_used(&self) -> u64 {
        self.kv_used
    }

    /// Earliest arrival among waiting sequences.
    pub fn next_arrival(&self) -> Option<Ps> {
        self.waiting.front().map(|s| s.arrival)
    }

    /// Plans the step starting at `now`.
    pub fn plan(&mut self, now: Ps, plan: &mut StepPlan) {
        plan.work.clear();
        plan.prefill = false;
        let mut budget = self.max_batched_tokens;
        // Sequences still mid-prefill (chunked) continue first.
        for &i in &self.running {
            let s = &self.seqs[i];
            if s.computed < s.prefill_target && budget > 0 {
                let ctx = s.computed;
                let new = ((s.prefill_target - ctx) as u64).min(budget) as u32;
                budget -= new as u64;
                plan.work.push(SeqWork {
                    seq: i,
                    ctx,
                    new,
                    samples: ctx + new == s.prefill_target,
                });
            }
        }
        // Admit waiting sequences.
        while budget > 0 && self.running.len() < self.max_num_seqs {
            let Some(front) = self.waiting.front() else {
                break;
            };
            if front.arrival > now {
                break;
            }
            let need = front.len() as u64;
            let chunked = need > budget;
            if chunked && !plan.work.is_empty() {
                break;
            }
            // The whole sequence's KV must fit (it is allocated on admission).
            if self.kv_used + need + 1 > self.kv_capacity {
                break;
            }
            let mut s = self.waiting.pop_front().expect("front");
            s.first_scheduled.get_or_insert(now);
            s.prefill_target = s.len();
            self.kv_used += need;
            let new = need.min(budget) as u32;
            budget -= new as u64;
            let i = self.seqs.len();
            let ctx = s.computed;
            self.seqs.push(s);
            self.running.push(i);
            plan.work.push(SeqWork {
                seq: i,
                ctx,
                new,
                samples: !chunked,
            });
        }
        if !plan.work.is_empty() {
            plan.prefill = true;
            return;
        }
        // Decode: every running sequence needs one more KV slot; preempt the newest
        // until they fit.
        while !self.running.is_empty()
            && self.kv_used + self.running.len() as u64 > self.kv_capacity
        {
            let i = self.running.pop().expect("running");
            let mut s = self.seqs[i].clone();
            self.kv_used -= s.len() as u64;
            s.computed = 0;
            self.waiting.push_front(s);
            self.preemptions += 1;
        }
        for &i in &self.running {
            let s = &self.seqs[i];
            plan.work.push(SeqWork {
                seq: i,
                ctx: s.computed,
                new: 1,
                samples: true,
            });
        }
    }

    /// Applies a finished step; returns output tokens generated.
    pub fn complete(&mut self, plan: &StepPlan) -> u64 {
        let mut out = 0;
        for w in &plan.work {
            let s = &mut self.seqs[w.seq];
            s.computed = w.ctx + w.new;
            if w.samples {
                s.generated += 1;
                out += 1;
                if !plan.prefill {
                    self.kv_used += 1;
                }
            }
        }
        // Retire finished sequences (and compact the slab when it is all dead).
        let seqs = &self.seqs;
        let mut done = 0u64;
        let mut freed = 0u64;
        self.running.retain(|&i| {
            let s = &seqs[i];
            let fin = s.generated >= s.output;
            if fin {
                done += 1;
                freed += s.len() as u64;
            }
            !fin
        });
        self.finished += done;
        self.kv_used = self.kv_used.saturating_sub(freed);
        if self.running.is_empty() {
            self.seqs.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serves_everything_and_counts_output() {
        let reqs: Vec<Request> = (0..20)
            .map(|i| Request {
                arrival: Ps::ZERO,
                prompt: 50 + i,
                output: 10 + i,
            })
            .collect();
        let mut b = Batcher::new(8, 256, 600);
        for (i, r) in reqs.iter().enumerate() {
            b.push(i as u64, r);
        }
        let mut plan = StepPlan::default();
        let mut out = 0;
        let mut steps = 0;
        while !b.idle() {
            b.plan(Ps::ZERO, &mut plan);
            assert!(!plan.work.is_empty());
            assert!(plan.tokens() <= 256 || plan.work.len() == 1);
            out += b.complete(&plan);
            steps += 1;
            assert!(steps < 10_000);
        }
        let want: u64 = reqs.iter().map(|r| r.output as u64).sum();
        assert_eq!(out, want);
        assert_eq!(b.finished, 20);
    }
}
