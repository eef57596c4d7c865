//! Rate groups with a virtual clock.
//!
//! Every flow frozen by the same bottleneck resource runs at that resource's share, so
//! the flows of one bottleneck form a *group* with one rate. A group keeps one clock,
//! `served`: the work each of its flows has done since the clock began. A flow that
//! joins at `served = s` with `w` units left is stored as `work = s + w`; its remaining
//! work at any later time is `work - served`, and its finish is where the clock reaches
//! `work`. When the bottleneck's share changes, only the group's rate and clock change
//! (one finish time, one heap move), not every flow's: a sweep that gives 20 flows of 6
//! bottlenecks a new share does 6 updates. The group's next finisher is its member with
//! the least `work` (a min-heap per group; entries of flows that left are skipped).
//!
//! A flow frozen at its own cap has a group of its own (so does every flow when the
//! test-only full recompute sets rates flow by flow). Work and clocks are the same exact
//! integers as before: `served` advances by `rate * dt` exactly, and a finish time is
//! `t0 + ceil((work - served) / rate)`, which is the per-flow prediction unit for unit.

use super::{finish_time, mul_sat, FlowNet};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A group's clock is started again from zero past this value. Between two refreshes
/// (a refresh comes at the latest when the next member finishes) the clock moves by at
/// most one flow's work, below 2^124 units (2^64 bytes x 1e12 x SCALE), so neither the
/// clock nor any `work` can reach u128::MAX, however long the run.
const CLOCK_MAX: u128 = 1 << 110;

/// A flow in no group yet (never given a rate): its `work` is its remaining work.
pub(super) const NO_GROUP: u32 = u32::MAX;

/// The group of the flows whose bottleneck is resource `r`.
pub(super) fn resource_group(r: u32) -> u32 {
    2 * r
}

/// The group of flow `f` alone (frozen at its own cap).
pub(super) fn own_group(f: u32) -> u32 {
    2 * f + 1
}

#[derive(Clone, Debug, Default)]
pub(super) struct Group {
    rate: u128,
    /// time (ps) at which `served` was last brought up to date
    t0: u64,
    /// work done by each member since the clock began, at `t0`
    served: u128,
    /// `(work, flow, seq)` of the members, least work first; an entry is live while
    /// the flow's `seq` is still `seq` (a flow bumps it when it leaves or ends)
    members: BinaryHeap<Reverse<(u128, u32, u64)>>,
    /// members now in the group (the heap may also hold entries of flows that left)
    live: u32,
    /// queued for `refresh` at the end of the current change
    queued: bool,
}

impl Group {
    /// The clock at `now`.
    fn served_at(&self, now: u64) -> u128 {
        self.served
            .saturating_add(mul_sat(self.rate, (now - self.t0) as u128))
    }

    fn rebase(&mut self, now: u64) {
        self.served = self.served_at(now);
        self.t0 = now;
    }
}

/// All groups, indexed by group key, and the predicted completions of their next
/// finishers.
#[derive(Clone, Debug, Default)]
pub(super) struct Groups {
    groups: Vec<Group>,
    /// `(finish, group)` of every group with a finisher in sight
    completions: super::completions::Completions,
    /// groups whose next finisher must be predicted again
    queued: Vec<u32>,
}

impl Groups {
    fn get(&mut self, key: u32) -> &mut Group {
        if self.groups.len() <= key as usize {
            self.groups.resize_with(key as usize + 1, Group::default);
        }
        &mut self.groups[key as usize]
    }

    fn queue(&mut self, key: u32) {
        let g = self.get(key);
        if !g.queued {
            g.queued = true;
            self.queued.push(key);
        }
    }

    /// Set a group's rate from `now` on.
    pub(super) fn set_rate(&mut self, key: u32, rate: u128, now: u64) {
        let g = self.get(key);
        if g.rate != rate {
            g.rebase(now);
            g.rate = rate;
            self.queue(key);
        }
    }

    /// The earliest `(finish, group)`.
    pub(super) fn peek(&self) -> Option<(u64, u32)> {
        self.completions.peek()
    }
}

impl FlowNet {
    /// Move flow `f` into group `key` at the current time, keeping its remaining work.
    pub(super) fn join(&mut self, f: u32, key: u32) {
        let now = self.now.0;
        let fl = &mut self.flows[f as usize];
        let mut left = fl.work;
        if fl.group != NO_GROUP {
            let old = self.groups.get(fl.group);
            old.rebase(now);
            left = left.saturating_sub(old.served);
            old.live -= 1;
            let old_key = fl.group;
            self.groups.queue(old_key);
        }
        fl.seq += 1;
        fl.group = key;
        let g = self.groups.get(key);
        g.rebase(now);
        fl.work = g.served.saturating_add(left);
        g.members.push(Reverse((fl.work, f, fl.seq)));
        g.live += 1;
        self.groups.queue(key);
    }

    /// Predict again the next finisher of every queued group.
    pub(super) fn refresh_groups(&mut self) {
        let mut queued = std::mem::take(&mut self.groups.queued);
        for &key in &queued {
            self.groups.groups[key as usize].queued = false;
            self.refresh(key);
        }
        queued.clear();
        self.groups.queued = queued;
    }

    /// Drop the group's stale entries off the top and queue its next finisher's finish
    /// time (none when the group is empty or stalled).
    fn refresh(&mut self, key: u32) {
        if self.groups.groups[key as usize].served > CLOCK_MAX {
            self.restart_clock(key);
        }
        let g = &mut self.groups.groups[key as usize];
        if g.members.len() > 2 * g.live as usize + 16 {
            let flows = &self.flows;
            g.members
                .retain(|Reverse((_, f, seq))| flows[*f as usize].seq == *seq);
        }
        while let Some(&Reverse((_, f, seq))) = g.members.peek() {
            if self.flows[f as usize].seq == seq {
                break;
            }
            g.members.pop();
        }
        let finish = match g.members.peek() {
            Some(&Reverse((work, _, _))) => {
                finish_time(g.t0, work.saturating_sub(g.served), g.rate)
            }
            None => {
                // Empty: the clock starts again from zero, stopped until a member comes.
                g.served = 0;
                g.rate = 0;
                g.t0 = self.now.0;
                u64::MAX
            }
        };
        if finish == u64::MAX {
            self.groups.completions.remove(key);
        } else {
            self.groups.completions.set(key, finish);
        }
    }

    /// Start group `key`'s clock again from zero: take the clock's value off every
    /// member's `work` (the same amount off every entry keeps the heap's order).
    fn restart_clock(&mut self, key: u32) {
        let g = &mut self.groups.groups[key as usize];
        let d = std::mem::take(&mut g.served);
        let mut members = std::mem::take(&mut g.members).into_vec();
        for Reverse((work, f, seq)) in &mut members {
            *work = work.saturating_sub(d);
            let fl = &mut self.flows[*f as usize];
            if fl.seq == *seq {
                fl.work = *work;
            }
        }
        self.groups.groups[key as usize].members = BinaryHeap::from(members);
    }

    /// Take group `key`'s next finisher out of it (None if it has none), and predict the
    /// one after.
    pub(super) fn take_finisher(&mut self, key: u32) -> Option<u32> {
        let g = &mut self.groups.groups[key as usize];
        let taken = g.members.pop().map(|Reverse((_, f, _))| f);
        if let Some(f) = taken {
            g.live -= 1;
            self.flows[f as usize].seq += 1;
            self.flows[f as usize].group = NO_GROUP;
        }
        self.refresh(key);
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Ps;

    /// A flow over two links whose bottleneck flips between them 400 times (holds come
    /// and go), beside flows that keep both groups busy: every finish is the one of a
    /// flow on its own clock (the full recompute's per-flow groups), and the groups'
    /// heaps do not keep every entry the moves left behind.
    #[test]
    fn a_flow_moved_between_groups_keeps_its_work() {
        let run = |full: bool| {
            let mut n = FlowNet::new();
            n.full_recompute = full;
            let a = n.add_resource("a", 100_000_000_000).unwrap();
            let b = n.add_resource("b", 100_000_000_000).unwrap();
            n.start(&[a, b], 40_000_000, None, 0).unwrap();
            for k in 1..4 {
                n.start(&[a], 30_000_000 + k, None, k).unwrap();
                n.start(&[b], 30_000_000 - k, None, 10 + k).unwrap();
            }
            let (mut done, mut out) = (Vec::new(), Vec::new());
            for step in 0..400u64 {
                let (on, off) = if step % 2 == 0 { (a, b) } else { (b, a) };
                if step > 0 {
                    n.release(off, 30_000_000_000).unwrap();
                }
                n.hold(on, 30_000_000_000).unwrap();
                n.settle();
                n.advance(Ps(n.now().0 + 1_000_000), &mut out);
                done.extend(out.drain(..).map(|f| (f.owner, n.now().0)));
                let g = &n.groups.groups;
                for r in [a, b] {
                    if let Some(g) = g.get(resource_group(r.0) as usize) {
                        assert!(g.members.len() <= 2 * g.live as usize + 17);
                    }
                }
            }
            while let Some(t) = n.settle() {
                n.advance(t, &mut out);
                done.extend(out.drain(..).map(|f| (f.owner, t.0)));
            }
            done
        };
        let got = run(false);
        let want = run(true);
        assert_eq!(got.len(), 7);
        assert_eq!(got, want);
    }

    /// A group whose clock has run far (as in a very long run) is started again from
    /// zero at its next refresh, and its members finish exactly when they would have.
    #[test]
    fn a_clock_past_its_limit_starts_again_with_the_same_finishes() {
        let run = |far: bool| {
            let mut n = FlowNet::new();
            let a = n.add_resource("a", 50_000_000_000).unwrap();
            for k in 0..5u64 {
                n.start(&[a], 1_000_000 * (k + 1), None, k).unwrap();
            }
            n.settle();
            if far {
                let off = CLOCK_MAX + 12_345;
                let g = &mut n.groups.groups[resource_group(a.0) as usize];
                g.served += off;
                let members = std::mem::take(&mut g.members).into_vec();
                g.members = members
                    .into_iter()
                    .map(|Reverse((w, f, seq))| Reverse((w + off, f, seq)))
                    .collect();
                for fl in &mut n.flows {
                    fl.work += off;
                }
            }
            let (mut done, mut out) = (Vec::new(), Vec::new());
            while let Some(t) = n.settle() {
                n.advance(t, &mut out);
                done.extend(out.drain(..).map(|f| (f.owner, t.0)));
                let g = &n.groups.groups[resource_group(a.0) as usize];
                assert!(g.served <= CLOCK_MAX);
            }
            done
        };
        let want = run(false);
        assert_eq!(want.len(), 5);
        assert_eq!(run(true), want);
    }
}
