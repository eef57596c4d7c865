//! The deterministic event queue.
//!
//! Events are ordered by `(time, key, seq)`: `key` is chosen by the caller (the executor
//! uses the op id) so that simultaneous events are handled in an order that does not
//! depend on when they were inserted; `seq` (insertion order) only breaks ties between
//! events with equal time and key.

use crate::time::Ps;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

struct Entry<E> {
    time: u64,
    key: u64,
    seq: u64,
    event: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, o: &Self) -> bool {
        (self.time, self.key, self.seq) == (o.time, o.key, o.seq)
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Entry<E> {
    // Reversed: BinaryHeap is a max-heap, we want the earliest event on top.
    fn cmp(&self, o: &Self) -> Ordering {
        (o.time, o.key, o.seq).cmp(&(self.time, self.key, self.seq))
    }
}

/// A min-queue of timed events with a defined order for simultaneous events.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
    now: Ps,
    popped: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::new(),
            seq: 0,
            now: Ps::ZERO,
            popped: 0,
        }
    }

    pub fn with_capacity(n: usize) -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(n),
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
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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
        self.heap.push(Entry {
            time: time.0,
            key,
            seq: self.seq,
            event,
        });
    }

    pub fn peek_time(&self) -> Option<Ps> {
        self.heap.peek().map(|e| Ps(e.time))
    }

    /// Pop the next event and advance `now` to its time.
    pub fn pop(&mut self) -> Option<(Ps, E)> {
        let e = self.heap.pop()?;
        self.now = Ps(e.time);
        self.popped += 1;
        Some((self.now, e.event))
    }

    /// Pop the next event only if it is at exactly `time`.
    pub fn pop_at(&mut self, time: Ps) -> Option<E> {
        if self.heap.peek().map(|e| e.time) == Some(time.0) {
            self.pop().map(|(_, e)| e)
        } else {
            None
        }
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

    proptest::proptest! {
        /// Any interleaving of schedules, peeks and pops yields events in
        /// (time, key, insertion) order, like a sorted list.
        #[test]
        fn pops_in_time_key_insertion_order(
            ops in proptest::collection::vec((0u64..40, 0u64..4, 0u8..3), 1..300)
        ) {
            let mut q = EventQueue::new();
            let mut model: Vec<(u64, u64, u64)> = Vec::new();
            let mut seq = 0;
            for (dt, key, op) in ops {
                if op == 0 && !model.is_empty() {
                    model.sort_unstable();
                    let want = model.remove(0);
                    proptest::prop_assert_eq!(q.peek_time(), Some(Ps(want.0)));
                    let (t, e) = q.pop().unwrap();
                    proptest::prop_assert_eq!((t.0, e), (want.0, want.2));
                } else {
                    seq += 1;
                    let t = q.now().0 + dt;
                    q.schedule(Ps(t), key, seq);
                    model.push((t, key, seq));
                }
                proptest::prop_assert_eq!(q.len(), model.len());
            }
        }
    }
}
