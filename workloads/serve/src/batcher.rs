//! Continuous batching as nano-vLLM and vLLM do it, one replica at a time: a step is a
//! prefill step (waiting sequences admitted in arrival order while the step's token
//! budget, the sequence limit and the KV cache allow; a prompt longer than the budget is
//! prefilled in chunks) or, when nothing can be admitted, a decode step of every running
//! sequence (one token each). When the KV cache runs out during decode the newest running
//! sequence is preempted and later recomputed, as nano-vLLM does.
//!
//! With an engine profile ([`crate::engine`]) the KV cache is counted in blocks and the
//! step follows the engine's scheduler: vLLM V1's mixed steps ([`Batcher::plan`] with
//! [`SchedulerKind::Mixed`]: running requests first, decodes and chunked-prefill
//! continuations alike, then waiting ones FCFS under the same token budget, admitted only
//! when the whole prompt fits in free blocks; a failed block allocation preempts the
//! newest running request, and no request is admitted in a step that preempted), or
//! prefill-first steps as nano-vLLM and SGLang run them, in blocks.

use std::collections::VecDeque;

use memwall_sim::Ps;

use super::engine::{Admission, SchedulerKind};
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
    /// KV blocks held (engine profiles only).
    pub blocks: u64,
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
    /// A decode (one generated token fed back) rather than prompt tokens.
    pub decode: bool,
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

/// How an engine profile's scheduler counts KV: in blocks of `block_size` tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockMode {
    pub scheduler: SchedulerKind,
    pub block_size: u64,
    pub admission: Admission,
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
    /// Engine-profile scheduling (KV in blocks; `kv_capacity` is then in blocks); `None`:
    /// the built-in prefill-first behaviour, KV in tokens.
    pub blocks: Option<BlockMode>,
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
            blocks: None,
        }
    }

    /// A scheduler following an engine profile: `kv_blocks` blocks of the mode's size.
    pub fn with_blocks(
        max_num_seqs: usize,
        max_batched_tokens: u64,
        kv_blocks: u64,
        mode: BlockMode,
    ) -> Self {
        let mut b = Batcher::new(max_num_seqs, max_batched_tokens, kv_blocks);
        b.blocks = Some(mode);
        b
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
            blocks: 0,
        });
    }

    pub fn idle(&self) -> bool {
        self.waiting.is_empty() && self.running.is_empty()
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Request ids of the running sequences.
    pub fn running_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.running.iter().map(|&i| self.seqs[i].id)
    }

    /// KV-cache tokens held by admitted sequences.
    pub fn kv_used(&self) -> u64 {
        self.kv_used * self.block_tokens()
    }

    /// KV-cache capacity in tokens (blocks times their size under an engine profile).
    pub fn kv_capacity_tokens(&self) -> u64 {
        self.kv_capacity * self.block_tokens()
    }

    fn block_tokens(&self) -> u64 {
        self.blocks.map_or(1, |m| m.block_size)
    }

    /// Earliest arrival among waiting sequences.
    pub fn next_arrival(&self) -> Option<Ps> {
        self.waiting.front().map(|s| s.arrival)
    }

    /// Plans the step starting at `now`.
    pub fn plan(&mut self, now: Ps, plan: &mut StepPlan) {
        match self.blocks {
            None => self.plan_tokens(now, plan),
            Some(m) if m.scheduler == SchedulerKind::Mixed => self.plan_mixed(now, plan, m),
            Some(m) => self.plan_prefill_first(now, plan, m),
        }
    }

    /// The built-in prefill-first step, KV in tokens.
    fn plan_tokens(&mut self, now: Ps, plan: &mut StepPlan) {
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
                    decode: false,
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
                decode: false,
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
                decode: true,
            });
        }
    }

    /// Blocks free (engine profiles; `kv_used` counts blocks there).
    fn free_blocks(&self) -> u64 {
        self.kv_capacity.saturating_sub(self.kv_used)
    }

    /// Blocks sequence `i` still needs to hold `tokens` tokens of KV.
    fn blocks_needed(&self, i: usize, tokens: u64, m: BlockMode) -> u64 {
        tokens
            .div_ceil(m.block_size)
            .saturating_sub(self.seqs[i].blocks)
    }

    fn take_blocks(&mut self, i: usize, n: u64) {
        self.kv_used += n;
        self.seqs[i].blocks += n;
    }

    /// Preempts the newest running sequence (recompute: its blocks are freed and it goes
    /// back to the front of the queue); returns its slab index.
    fn preempt_newest(&mut self) -> Option<usize> {
        let i = self.running.pop()?;
        let mut s = self.seqs[i].clone();
        self.kv_used = self.kv_used.saturating_sub(s.blocks);
        self.seqs[i].blocks = 0;
        s.blocks = 0;
        s.computed = 0;
        self.waiting.push_front(s);
        self.preemptions += 1;
        Some(i)
    }

    /// Allocates what sequence `i` needs for `tokens` tokens of KV, preempting the newest
    /// running sequences until it fits; false when `i` itself was preempted.
    fn allocate_or_preempt(&mut self, i: usize, tokens: u64, m: BlockMode) -> bool {
        loop {
            let need = self.blocks_needed(i, tokens, m);
            if need <= self.free_blocks() {
                self.take_blocks(i, need);
                return true;
            }
            match self.preempt_newest() {
                Some(v) if v != i => continue,
                _ => return false,
            }
        }
    }

    /// Moves the front waiting sequence into the batch with `new` tokens scheduled.
    fn admit_front(&mut self, now: Ps, new: u32, plan: &mut StepPlan) -> usize {
        let mut s = self.waiting.pop_front().expect("front");
        s.first_scheduled.get_or_insert(now);
        s.prefill_target = s.len();
        let i = self.seqs.len();
        let samples = new == s.prefill_target;
        self.seqs.push(s);
        self.running.push(i);
        plan.work.push(SeqWork {
            seq: i,
            ctx: 0,
            new,
            samples,
            decode: false,
        });
        i
    }

    /// vLLM V1: running sequences in admission order (a decode, or the rest of a chunked
    /// prefill), then waiting ones, all under one token budget.
    fn plan_mixed(&mut self, now: Ps, plan: &mut StepPlan, m: BlockMode) {
        plan.work.clear();
        let mut budget = self.max_batched_tokens;
        let mut preempted = false;
        let mut k = 0;
        while k < self.running.len() && budget > 0 {
            let i = self.running[k];
            let s = &self.seqs[i];
            let decode = s.computed >= s.prefill_target;
            let new = if decode {
                1
            } else {
                ((s.prefill_target - s.computed) as u64).min(budget) as u32
            };
            let (ctx, target) = (s.computed, s.prefill_target);
            let before = self.preemptions;
            let ok = self.allocate_or_preempt(i, (ctx + new) as u64, m);
            preempted |= self.preemptions > before;
            if !ok {
                break;
            }
            budget -= new as u64;
            plan.work.push(SeqWork {
                seq: i,
                ctx,
                new,
                samples: decode || ctx + new == target,
                decode,
            });
            k += 1;
        }
        // The victims were all behind position k (the newest first), so no work planned
        // so far belongs to a preempted sequence.
        if !preempted {
            self.admit_waiting(now, budget, plan, m);
        }
        plan.prefill = plan.work.iter().any(|w| !w.decode);
    }

    /// Admits waiting sequences FCFS while the budget, `max_num_seqs` and free blocks
    /// allow (the whole prompt must fit; the chunk scheduled now is allocated).
    fn admit_waiting(&mut self, now: Ps, mut budget: u64, plan: &mut StepPlan, m: BlockMode) {
        while budget > 0 && self.running.len() < self.max_num_seqs {
            let Some(front) = self.waiting.front() else {
                break;
            };
            if front.arrival > now {
                break;
            }
            let len = front.len() as u64;
            let full = match m.admission {
                Admission::FullPrompt => len.div_ceil(m.block_size),
                Admission::WholeSequence => (len + 1).div_ceil(m.block_size),
            };
            if full > self.free_blocks() {
                break;
            }
            let new = len.min(budget);
            let alloc = match m.admission {
                Admission::FullPrompt => new,
                Admission::WholeSequence => len,
            };
            let i = self.admit_front(now, new as u32, plan);
            self.take_blocks(i, alloc.div_ceil(m.block_size));
            budget -= new;
        }
    }

    /// nano-vLLM / SGLang: a step of prefills (chunk continuations first, then new
    /// sequences) when any can run, else a decode step of every running sequence,
    /// preempting the newest when a decode finds no free block.
    fn plan_prefill_first(&mut self, now: Ps, plan: &mut StepPlan, m: BlockMode) {
        plan.work.clear();
        let mut budget = self.max_batched_tokens;
        for &i in &self.running {
            let s = &self.seqs[i];
            if s.computed < s.prefill_target && budget > 0 {
                let new = ((s.prefill_target - s.computed) as u64).min(budget) as u32;
                budget -= new as u64;
                plan.work.push(SeqWork {
                    seq: i,
                    ctx: s.computed,
                    new,
                    samples: s.computed + new == s.prefill_target,
                    decode: false,
                });
            }
        }
        let chunking = !plan.work.is_empty();
        if !chunking || budget > 0 {
            let first = plan.work.len();
            self.admit_waiting(now, budget, plan, m);
            // Only the first sequence of a prefill batch may be chunked.
            let later_chunk = plan.work[first..]
                .iter()
                .enumerate()
                .any(|(k, w)| !w.samples && (k > 0 || chunking));
            if later_chunk {
                self.undo_last_admission(plan);
            }
        }
        if !plan.work.is_empty() {
            plan.prefill = true;
            return;
        }
        self.plan_decodes(plan, m);
    }

    /// Returns the last admitted sequence (a chunk behind another) to the queue.
    fn undo_last_admission(&mut self, plan: &mut StepPlan) {
        let Some(w) = plan.work.pop() else {
            return;
        };
        self.running.retain(|&r| r != w.seq);
        let mut s = self.seqs[w.seq].clone();
        self.kv_used = self.kv_used.saturating_sub(s.blocks);
        self.seqs[w.seq].blocks = 0;
        s.blocks = 0;
        if s.generated == 0 {
            s.first_scheduled = None;
        }
        self.waiting.push_front(s);
    }

    /// A decode step of every running sequence, in blocks.
    fn plan_decodes(&mut self, plan: &mut StepPlan, m: BlockMode) {
        let mut k = 0;
        while k < self.running.len() {
            let i = self.running[k];
            let tokens = self.seqs[i].computed as u64 + 1;
            if !self.allocate_or_preempt(i, tokens, m) {
                break;
            }
            k += 1;
        }
        plan.prefill = false;
        for &i in &self.running {
            let s = &self.seqs[i];
            plan.work.push(SeqWork {
                seq: i,
                ctx: s.computed,
                new: 1,
                samples: true,
                decode: true,
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
                if !plan.prefill && self.blocks.is_none() {
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
                freed += if s.blocks > 0 {
                    s.blocks
                } else {
                    s.len() as u64
                };
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

    fn v1(seqs: usize, budget: u64, blocks: u64) -> Batcher {
        Batcher::with_blocks(
            seqs,
            budget,
            blocks,
            BlockMode {
                scheduler: SchedulerKind::Mixed,
                block_size: 16,
                admission: Admission::FullPrompt,
            },
        )
    }

    fn req(prompt: u32, output: u32) -> Request {
        Request {
            arrival: Ps::ZERO,
            prompt,
            output,
        }
    }

    /// vLLM V1: a step carries the running decodes first, then a chunk of the next prompt
    /// in the budget left; a prompt is admitted only when all of it fits in free blocks.
    #[test]
    fn mixed_steps_put_decodes_first_and_chunk_the_rest() {
        let mut b = v1(8, 100, 1000);
        b.push(0, &req(40, 3));
        b.push(1, &req(150, 2));
        let mut plan = StepPlan::default();
        b.plan(Ps::ZERO, &mut plan);
        // Request 0 whole (40), request 1 chunked to the remaining 60.
        let got: Vec<(u32, u32, bool)> = plan
            .work
            .iter()
            .map(|w| (w.ctx, w.new, w.samples))
            .collect();
        assert_eq!(got, vec![(0, 40, true), (0, 60, false)]);
        assert_eq!(b.kv_used, 3 + 4, "blocks for 40 and 60 tokens");
        b.complete(&plan);
        b.plan(Ps::ZERO, &mut plan);
        let got: Vec<(u32, u32, bool, bool)> = plan
            .work
            .iter()
            .map(|w| (w.ctx, w.new, w.samples, w.decode))
            .collect();
        assert_eq!(got, vec![(40, 1, true, true), (60, 90, true, false)]);
        assert!(plan.prefill);
    }

    /// With too few blocks, a decode that needs a new block preempts the newest request,
    /// which is recomputed later; every output token is still produced.
    #[test]
    fn preemption_recomputes_and_everything_finishes() {
        let mut b = v1(8, 64, 6);
        for i in 0..3 {
            b.push(i, &req(30, 40));
        }
        let mut plan = StepPlan::default();
        let (mut out, mut steps) = (0, 0);
        while !b.idle() {
            b.plan(Ps::ZERO, &mut plan);
            assert!(!plan.work.is_empty(), "stalled after {steps} steps");
            assert!(plan.tokens() <= 64);
            assert!(b.kv_used <= 6);
            out += b.complete(&plan);
            steps += 1;
            assert!(steps < 10_000);
        }
        assert_eq!(out, 120);
        assert!(b.preemptions > 0, "6 blocks cannot hold 3 x 70 tokens");
    }

    /// A prompt whose blocks do not all fit waits (head-of-line), even if a chunk would.
    #[test]
    fn admission_needs_the_whole_prompt() {
        let mut b = v1(8, 32, 4);
        b.push(0, &req(100, 1));
        let mut plan = StepPlan::default();
        b.plan(Ps::ZERO, &mut plan);
        assert!(
            plan.work.is_empty(),
            "100 tokens need 7 blocks of 16, 4 are free"
        );
    }
}
