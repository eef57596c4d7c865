//! The deterministic event queue.
//!
//! Events are ordered by `(time, key, seq)`: `key` is chosen by the caller (the executor
//! uses the op id) so that simultaneous events are handled in an order that does not
//! depend on when they were inserted; `seq` (insertion order) only breaks ties between
//! events with equal time and key.
//!
//! How it is fast (the hold model of `sim/benches/kernel.rs`, where each pop schedules
//! one event): the heap is 4-ary, so 1,000 pending events are five levels deep, and it
//! compares times only, picking the earliest of four children with conditional moves
//! rather than branches. A pop leaves the root vacant; the next schedule fills it with
//! one sift down, instead of moving the last node to the root, sifting it down, then
//! sifting the new node up. Ties are settled when their time is reached: if more than
//! one event is due then, all of them move to a second heap ordered by `(key, seq)`.
//! That heap also takes every event scheduled at `now` itself (the executor starts ops
//! at the current time), so the main heap only holds later ones. In a hold model most
//! times are unique and most pops never touch the second heap.

use crate::time::Ps;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A pending event with its time and order keys.
#[derive(Clone, Copy)]
struct Node<E> {
    time: u64,
    key: u64,
    seq: u64,
    event: E,
}

/// The earliest of the first four nodes of `k` (the first of equals): its time and index.
fn earliest4<E>(k: &[Node<E>]) -> (u64, usize) {
    let (ta, ia) = if k[1].time < k[0].time {
        (k[1].time, 1)
    } else {
        (k[0].time, 0)
    };
    let (tb, ib) = if k[3].time < k[2].time {
        (k[3].time, 3)
    } else {
        (k[2].time, 2)
    };
    if tb < ta {
        (tb, ib)
    } else {
        (ta, ia)
    }
}

/// The earliest of up to four nodes, as [`earliest4`]; `None` when there are none.
fn earliest<E>(k: &[Node<E>]) -> Option<(u64, usize)> {
    if k.len() >= 4 {
        Some(earliest4(k))
    } else {
        k.iter().enumerate().map(|(i, n)| (n.time, i)).min()
    }
}

/// A 4-ary min-heap of nodes by time whose root may be vacant: a pop leaves it so, and
/// the next push or pop fills it.
struct Nodes<E> {
    v: Vec<Node<E>>,
    vacant: bool,
}

impl<E: Copy> Nodes<E> {
    fn len(&self) -> usize {
        self.v.len() - usize::from(self.vacant)
    }

    /// The earliest time in the heap.
    fn min_time(&self) -> Option<u64> {
        if self.vacant {
            earliest(self.v.get(1..)?).map(|(t, _)| t)
        } else {
            self.v.first().map(|n| n.time)
        }
    }

    fn push(&mut self, node: Node<E>) {
        if self.vacant {
            self.vacant = false;
            self.sift_down(node);
        } else {
            self.v.push(node);
            self.sift_up(node);
        }
    }

    /// Take the earliest node, leaving the root vacant.
    fn pop(&mut self) -> Option<Node<E>> {
        if self.vacant {
            self.vacant = false;
            let last = self.v.pop()?;
            if !self.v.is_empty() {
                self.sift_down(last);
            }
        }
        let root = *self.v.first()?;
        self.vacant = true;
        Some(root)
    }

    /// Take the earliest node if it is at `time`.
    fn pop_at(&mut self, time: u64) -> Option<Node<E>> {
        if self.min_time() == Some(time) {
            self.pop()
        } else {
            None
        }
    }

    /// Put `node` into the vacant root and move it down past every earlier child.
    fn sift_down(&mut self, node: Node<E>) {
        let v = &mut self.v;
        let n = v.len();
        let mut pos = 0;
        loop {
            let c = 4 * pos + 1;
            // Full groups of four take the branch-free path; only the last group can be
            // partial.
            let next = if c + 4 <= n {
                earliest4(&v[c..c + 4])
            } else {
                match v.get(c..).and_then(earliest) {
                    Some(e) => e,
                    None => break,
                }
            };
            if next.0 >= node.time {
                break;
            }
            v[pos] = v[c + next.1];
            pos = c + next.1;
        }
        v[pos] = node;
    }

    /// Move the new last node `node` up past every later parent.
    fn sift_up(&mut self, node: Node<E>) {
        let v = &mut self.v;
        let mut pos = v.len() - 1;
        while pos > 0 {
            let parent = (pos - 1) / 4;
            if v[parent].time <= node.time {
                break;
            }
            v[pos] = v[parent];
            pos = parent;
        }
        v[pos] = node;
    }
}

/// An event due at the queue's current time, ordered by `(key, seq)` (reversed:
/// `BinaryHeap` is a max-heap).
struct Tied<E>(Node<E>);

impl<E> PartialEq for Tied<E> {
    fn eq(&self, o: &Self) -> bool {
        (self.0.key, self.0.seq) == (o.0.key, o.0.seq)
    }
}
impl<E> Eq for Tied<E> {}
impl<E> PartialOrd for Tied<E> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Tied<E> {
    fn cmp(&self, o: &Self) -> Ordering {
        (o.0.key, o.0.seq).cmp(&(self.0.key, self.0.seq))
    }
}

/// A min-queue of timed events with a defined order for simultaneous events. Events are
/// `Copy` (small ids), so the heap moves them with its nodes.
pub struct EventQueue<E> {
    /// Events after `now`.
    heap: Nodes<E>,
    /// Events at `now`, least `(key, seq)` on top: those scheduled at `now`, and those
    /// left when `now` moved to a time at which several were due.
    tied: BinaryHeap<Tied<E>>,
    seq: u64,
    now: Ps,
    popped: u64,
}

impl<E: Copy> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: Copy> EventQueue<E> {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    pub fn with_capacity(n: usize) -> Self {
        EventQueue {
            heap: Nodes {
                v: Vec::with_capacity(n),
                vacant: false,
            },
            tied: BinaryHeap::new(),
            seq: 0,
            now: Ps::ZERO,
            popped: 0,
        }
    }

    /// The time of the last event popped.
    pub fn now(&self) -> Ps {
        self.now
    }

    /// Number of events popped so far (for events/s benchmarks).
    pub fn events_processed(&self) -> u64 {
        self.popped
    }

    pub fn len(&self) -> usize {
        self.heap.len() + self.tied.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Schedule `event` at `time`. Scheduling in the past is a model bug: the event is
    /// clamped to `now` in release builds and trips an assertion in debug builds.
    pub fn schedule(&mut self, time: Ps, key: u64, event: E) {
        debug_assert!(
            time >= self.now,
            "event scheduled in the past: {time:?} < {:?}",
            self.now
        );
        let time = time.max(self.now);
        self.seq += 1;
        let node = Node {
            time: time.0,
            key,
            seq: self.seq,
            event,
        };
        if time == self.now {
            self.tied.push(Tied(node));
        } else {
            self.heap.push(node);
        }
    }

    pub fn peek_time(&self) -> Option<Ps> {
        if self.tied.is_empty() {
            self.heap.min_time().map(Ps)
        } else {
            Some(self.now)
        }
    }

    /// Pop the next event and advance `now` to its time.
    pub fn pop(&mut self) -> Option<(Ps, E)> {
        let event = if self.tied.is_empty() {
            self.pop_earliest()?
        } else {
            self.tied.pop()?.0.event
        };
        self.popped += 1;
        Some((self.now, event))
    }

    /// Pop the next event only if it is at exactly `time`.
    pub fn pop_at(&mut self, time: Ps) -> Option<E> {
        if self.peek_time() == Some(time) {
            self.pop().map(|(_, e)| e)
        } else {
            None
        }
    }

    /// With `tied` empty: advance `now` to the earliest time and take its event, or, when
    /// several are due then, move them all to `tied` and take the least `(key, seq)`.
    fn pop_earliest(&mut self) -> Option<E> {
        let first = self.heap.pop()?;
        self.now = Ps(first.time);
        if self.heap.min_time() != Some(first.time) {
            return Some(first.event);
        }
        self.tied.push(Tied(first));
        while let Some(n) = self.heap.pop_at(first.time) {
            self.tied.push(Tied(n));
        }
        self.tied.pop().map(|t| t.0.event)
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_time_then_key_then_insertion() {
        let mut q = EventQueue::new();
        q.schedule(Ps(10), 5, "b");
        q.schedule(Ps(10), 1, "a");
        q.schedule(Ps(5), 9, "first");
        q.schedule(Ps(10), 5, "c");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!["first", "a", "b", "c"]);
        assert_eq!(q.now(), Ps(10));
        assert_eq!(q.events_processed(), 4);
    }

    /// The benchmark's hold model (each pop schedules one event up to 1 us ahead, here a
    /// quarter of them at the same time) over 1,000 pending events, against a sorted
    /// reference: a heap five levels deep with a partial last group, every schedule
    /// filling the root a pop left vacant.
    #[test]
    fn hold_model_matches_a_sorted_reference() {
        let mut q = EventQueue::new();
        let mut model = std::collections::BTreeSet::new();
        let mut x = 0x9E3779B97F4A7C15u64;
        let next = |x: &mut u64| {
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            *x % 1_000_000
        };
        for i in 0..1_000u64 {
            let t = next(&mut x);
            q.schedule(Ps(t), i % 7, i);
            model.insert((t, i % 7, i + 1, i));
        }
        let mut seq = 1_000;
        for _ in 0..20_000 {
            let want = model.pop_first().expect("never empties");
            assert_eq!(q.pop(), Some((Ps(want.0), want.3)));
            seq += 1;
            // A quarter are due at once, to exercise the ties.
            let d = next(&mut x);
            let t = want.0 + if d % 4 == 0 { 0 } else { d };
            q.schedule(Ps(t), want.3 % 7, want.3);
            model.insert((t, want.3 % 7, seq, want.3));
            assert_eq!(q.len(), model.len());
        }
    }

    proptest::proptest! {
        /// Any interleaving of schedules, peeks, pops and pops at a given time yields
        /// events in (time, key, insertion) order, like a sorted list.
        #[test]
        fn pops_in_time_key_insertion_order(
            ops in proptest::collection::vec(
                (
                    proptest::prop_oneof![0u64..40, 0u64..1 << 40],
                    0u64..4,
                    0u8..6,
                ),
                1..300,
            )
        ) {
            let mut q = EventQueue::new();
            let mut model: Vec<(u64, u64, u64)> = Vec::new();
            let mut seq = 0;
            for (dt, key, op) in ops {
                model.sort_unstable();
                let head = model.first().copied();
                match op {
                    0 if head.is_some() => {
                        let want = model.remove(0);
                        proptest::prop_assert_eq!(q.peek_time(), Some(Ps(want.0)));
                        let (t, e) = q.pop().unwrap();
                        proptest::prop_assert_eq!((t.0, e), (want.0, want.2));
                    }
                    1 => {
                        proptest::prop_assert_eq!(q.peek_time(), head.map(|h| Ps(h.0)));
                    }
                    2 => {
                        // At the head's time it pops the head; a picosecond later, nothing.
                        let t = head.map_or(dt, |h| h.0 + dt % 2);
                        let want = head.filter(|h| h.0 == t);
                        if want.is_some() {
                            model.remove(0);
                        }
                        proptest::prop_assert_eq!(q.pop_at(Ps(t)), want.map(|h| h.2));
                    }
                    _ => {
                        seq += 1;
                        let t = q.now().0 + dt;
                        q.schedule(Ps(t), key, seq);
                        model.push((t, key, seq));
                    }
                }
                proptest::prop_assert_eq!(q.len(), model.len());
                proptest::prop_assert_eq!(q.is_empty(), model.is_empty());
            }
            proptest::prop_assert_eq!(q.events_processed(), seq - model.len() as u64);
        }
    }
}
